"""The table of client fault scripts (imported as ``fault_cases``); run by ``test_fault_scripts``.

Each :class:`Case` is one script that the fake backend plays to the client,
and what must come of it. Rows are built here, per fault: the statuses on
open (with and without ``Retry-After``, in seconds and as an HTTP-date), the
network faults, garbage and oversized input, redirects, error bodies echoing
the token in every JSON spelling, and the server's ``retry:`` field at its
extremes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from arkor_rx.errors import (
    CloudApiError,
    ReconnectExhaustedError,
    SSELimitError,
    StreamIdleTimeout,
    TransportError,
    UpgradeRequiredError,
)
from arkor_rx.events import TrainingEvent
from arkor_rx.sse import DEFAULT_MAX_EVENT_SIZE, DEFAULT_MAX_LINE_SIZE, encode
from arkor_rx.stream import StreamStats
from tests.client.faults import (
    Fault,
    FaultBackend,
    Raw,
    Redirect,
    echo_body,
    json_spellings,
)
from tests.core.core_fakes import (
    COMMENT,
    END,
    GARBAGE,
    PING,
    Reject,
    Serve,
    completed,
    failed,
    frame,
    log,
    started,
)

TOKEN = "fault/T0KEN-5ecret"
"""The token of every row: a slash, so that ``\\/`` is one of its spellings."""

NEXT = "@next"
"""In a redirect's location: the second backend's event stream URL."""


@dataclass(frozen=True)
class Case:
    """One fault script and what the client must do about it."""

    name: str
    plan: tuple[Fault, ...]
    """What the backend answers to each opening of the stream, in order."""
    outcome: tuple[str, ...] | type[BaseException]
    """The event types delivered, or the error the iteration raises."""
    opens: int
    """How many stream requests the backend (both, for a redirect) saw."""
    resume: tuple[str | None, ...] | None = None
    """The ``Last-Event-ID`` of each request to the first backend (None: not sent)."""
    delays: tuple[float, ...] | None = ()
    """The delays slept between openings (None: checked by ``check`` instead)."""
    message: str | None = None
    """Text the error's message must contain."""
    cause: type[BaseException] | None = None
    """The type of the error's ``__cause__`` (for ReconnectExhaustedError)."""
    policy: dict[str, Any] = field(default_factory=dict)
    """Overrides of the row's policy."""
    then: tuple[Fault, ...] = ()
    """The second backend's plan (what a redirect lands on)."""
    refused: bool = False
    """Point the client at a closed port instead of the backend."""
    check: Callable[[Result], None] | None = None
    """More to check on the result."""


@dataclass
class Result:
    events: list[TrainingEvent]
    error: BaseException | None
    delays: list[float]
    stats: StreamStats
    first: FaultBackend
    second: FaultBackend


# --- building the table --------------------------------------------------------------

_DONE = Serve([log("1", 1), completed("2")])
_DONE_EVENTS = ("training.log", "training.completed")
_FUTURE = format_datetime(datetime.now(UTC) + timedelta(hours=10), usegmt=True)
"""Ten hours from when the table was built: however late the row runs, 9 to 10 hours away."""
_PAST = "Wed, 21 Oct 2015 07:28:00 GMT"
TRANSIENT = (404, 408, 429, 500, 502, 503, 504)
PERMANENT = (400, 401, 403, 409, 410, 422, 426)


def _nine_to_ten_hours(result: Result) -> None:
    (delay,) = result.delays
    assert 9 * 3600 < delay <= 10 * 3600


def _status_rows() -> list[Case]:
    rows = []
    for status in TRANSIENT:
        for label, retry_after, delay in (
            ("", None, 1.0),
            (" Retry-After 7", "7", 7.0),
            (" Retry-After 120 over max_delay", "120", 120.0),
            (" Retry-After date", _FUTURE, None),
            (" Retry-After past date", _PAST, 1.0),
        ):
            if label == " Retry-After 120 over max_delay" and status != 503:
                continue
            rows.append(
                Case(
                    f"open {status}{label}: retried",
                    (Reject(status, retry_after=retry_after), _DONE),
                    _DONE_EVENTS,
                    opens=2,
                    resume=(None, None),
                    delays=None if delay is None else (delay,),
                    check=_nine_to_ten_hours if delay is None else None,
                )
            )
    for status in PERMANENT:
        for label, retry_after in (("", None), (" Retry-After 7", "7")):
            upgrade = status == 426
            rows.append(
                Case(
                    f"open {status}{label}: permanent",
                    (Reject(status, retry_after=retry_after, message="nope"), _DONE),
                    UpgradeRequiredError if upgrade else CloudApiError,
                    opens=1,
                    resume=(None,),
                    message="pip install -U arkor_rx" if upgrade else f"nope (HTTP {status})",
                )
            )
    return rows


def _no_auth_at_the_other_origin(result: Result) -> None:
    assert result.first.connections[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert [c.headers.get("Authorization") for c in result.second.connections] == [None]


def _auth_kept_on_the_same_origin(result: Result) -> None:
    assert [c.headers.get("Authorization") for c in result.first.connections] == [
        f"Bearer {TOKEN}"
    ] * 2


def _the_data_is_untouched(result: Result) -> None:
    assert getattr(result.events[-1], "error", None) == f"disk full near {TOKEN}"


def _refused_stats(result: Result) -> None:
    assert (result.stats.connections, result.stats.failures) == (0, 3)


def _drip(*frames: bytes) -> list[bytes | Any]:
    return [bytes([b]) for b in b"".join(frames)]


_RETRY_0 = encode("", event="ping", retry=0)
_RETRY_HUGE = encode("", event="ping", retry=10**15)
_RETRY_ABSURD = b"retry: " + b"9" * 5000 + b"\n\n"
_BIG_LINE = b"data: " + b"x" * (DEFAULT_MAX_LINE_SIZE + 1) + b"\n\n"
_BIG_EVENT = (b"data: " + b"x" * 60_000 + b"\n") * (DEFAULT_MAX_EVENT_SIZE // 60_000 + 2)
_UNKNOWN = frame("5", "training.mystery", note="new")


def _echo_rows() -> list[Case]:
    rows = []
    for form, spelling in json_spellings(TOKEN).items():
        rows.append(
            Case(
                f"401 body echoes the token ({form})",
                (Raw(401, echo_body(spelling)),),
                CloudApiError,
                opens=1,
                message="bad token *** (HTTP 401)",
            )
        )
    return rows


CASES: list[Case] = [
    *_status_rows(),
    Case(
        "503 three times: exhausted",
        (Reject(503), Reject(503), Reject(503)),
        ReconnectExhaustedError,
        opens=3,
        resume=(None, None, None),
        delays=(1.0, 2.0),
        message="failed 3 times in a row",
        cause=CloudApiError,
    ),
    Case(
        "connection refused: exhausted, says how to start a server",
        (),
        ReconnectExhaustedError,
        opens=0,
        delays=(1.0, 2.0),
        message="arkor-rx serve",
        cause=TransportError,
        refused=True,
        check=_refused_stats,
    ),
    Case(
        "reset mid-frame: resumed after the last whole event",
        (Serve([started("0"), log("1", 1)], end="drop"), Serve([completed("2")])),
        ("training.started", "training.log", "training.completed"),
        opens=2,
        resume=(None, "1"),
        delays=(1.0,),
    ),
    Case(
        "reset before any byte: retried",
        (Serve([], end="drop"), _DONE),
        _DONE_EVENTS,
        opens=2,
        resume=(None, None),
        delays=(1.0,),
    ),
    Case(
        "half-open after data: the idle watchdog reopens",
        (Serve([log("1", 1)], end="hang"), Serve([completed("2")])),
        _DONE_EVENTS,
        opens=2,
        resume=(None, "1"),
        delays=(1.0,),
        policy={"idle_timeout": 0.2},
    ),
    Case(
        "silent twice: exhausted by idle timeouts",
        (Serve([], end="hang"), Serve([PING], end="hang")),
        ReconnectExhaustedError,
        opens=2,
        delays=(1.0,),
        cause=StreamIdleTimeout,
        message="no bytes on the event stream",
        policy={"idle_timeout": 0.2, "max_attempts": 1},
    ),
    Case(
        "keepalives only, then a clean close: a failure",
        (Serve([PING, COMMENT, PING]), _DONE),
        _DONE_EVENTS,
        opens=2,
        delays=(1.0,),
    ),
    Case(
        "a 200 with an empty body, three times: exhausted",
        (Serve([]), Serve([]), Serve([])),
        ReconnectExhaustedError,
        opens=3,
        delays=(1.0, 2.0),
        message="closed without sending any event",
        cause=TransportError,
    ),
    Case(
        "garbage JSON frame: skipped, its id still resumes",
        (Serve([GARBAGE]), Serve([completed("2")])),
        ("training.completed",),
        opens=2,
        resume=(None, "g1"),
        delays=(1.0,),
    ),
    Case(
        "garbage bytes: no event, a failure",
        (Serve([b"\x00\xff\xfe\x80 binary\r\n\x81: x\n\n"]), _DONE),
        _DONE_EVENTS,
        opens=2,
        delays=(1.0,),
    ),
    Case(
        "line over the decoder limit: permanent",
        (Serve([log("1", 1), _BIG_LINE]), _DONE),
        SSELimitError,
        opens=1,
    ),
    Case(
        "event over the decoder limit: permanent",
        (Serve([_BIG_EVENT]), _DONE),
        SSELimitError,
        opens=1,
    ),
    Case(
        "slow drip, one byte per write: whole events",
        (Serve(_drip(started("0"), log("1", 1), completed("2"))),),
        ("training.started", "training.log", "training.completed"),
        opens=1,
    ),
    Case(
        "redirect to another origin: Authorization dropped",
        (Redirect(307, NEXT),),
        _DONE_EVENTS,
        opens=2,
        then=(_DONE,),
        check=_no_auth_at_the_other_origin,
    ),
    Case(
        "redirect to another origin that wants the token: permanent 401",
        (Redirect(302, NEXT),),
        CloudApiError,
        opens=2,
        then=(Reject(401, message="no token"),),
        message="no token (HTTP 401)",
        check=_no_auth_at_the_other_origin,
    ),
    Case(
        "redirect on the same origin: Authorization kept",
        (Redirect(308, "/v1/jobs/j1/events/stream?orgSlug=org&projectSlug=proj"), _DONE),
        _DONE_EVENTS,
        opens=2,
        check=_auth_kept_on_the_same_origin,
    ),
    Case(
        "redirect loop: too many redirects, retried, exhausted",
        tuple(Redirect(302, "/v1/jobs/j1/events/stream") for _ in range(6)),
        ReconnectExhaustedError,
        opens=6,
        delays=(),
        message="more than 5 redirects",
        cause=TransportError,
        policy={"max_attempts": 0},
    ),
    Case(
        "redirect to file://: refused",
        (Redirect(302, "file:///etc/passwd"),),
        ReconnectExhaustedError,
        opens=1,
        message="redirect to a non-HTTP URL",
        cause=TransportError,
        policy={"max_attempts": 0},
    ),
    *_echo_rows(),
    Case(
        "503 echoing the token, then exhausted: the cause is clean too",
        (Raw(503, echo_body(TOKEN)), Raw(503, echo_body(TOKEN.replace("/", "\\/")))),
        ReconnectExhaustedError,
        opens=2,
        delays=(1.0,),
        message="last error: bad token ***",
        cause=CloudApiError,
        policy={"max_attempts": 1},
    ),
    Case(
        "text body echoing the token in escapes: masked",
        (Raw(502, b"upstream said: Authorization: Bearer fault\\/T0KEN-5ecret"), _DONE),
        _DONE_EVENTS,
        opens=2,
        delays=(1.0,),
    ),
    Case(
        "the token inside a good event: delivered as sent",
        (Serve([failed("9", error=f"disk full near {TOKEN}")]),),
        ("training.failed",),
        opens=1,
        check=_the_data_is_untouched,
    ),
    Case(
        "retry: 0 with clean closes after data: the 0.1 s floor",
        (Serve([_RETRY_0, log("1", 1)]), Serve([log("2", 2)]), Serve([completed("3")])),
        ("training.log", "training.log", "training.completed"),
        opens=3,
        resume=(None, "1", "2"),
        delays=(0.1, 0.1),  # SERVER_RETRY_FLOOR
    ),
    Case(
        "retry: 0 and no data: doubling from the floor, then exhausted",
        (Serve([_RETRY_0]), Serve([PING]), Serve([PING]), Serve([PING])),
        ReconnectExhaustedError,
        opens=4,
        delays=(0.1, 0.2, 0.4),
        cause=TransportError,
        policy={"max_attempts": 3},
    ),
    Case(
        "retry: 10^15 ms: clamped at max_delay",
        (Serve([_RETRY_HUGE, log("1", 1)]), Serve([PING]), Serve([completed("2")])),
        _DONE_EVENTS,
        opens=3,
        delays=(60.0, 60.0),
    ),
    Case(
        "retry: 5000 digits: ignored",
        (Serve([_RETRY_ABSURD, log("1", 1)]), Serve([completed("2")])),
        _DONE_EVENTS,
        opens=2,
        delays=(1.0,),
    ),
    Case(
        "event: end: over, no reconnect",
        (Serve([log("1", 1), END, log("2", 2)]), _DONE),
        ("training.log",),
        opens=1,
    ),
    Case(
        "replay after resume: nothing delivered twice",
        (
            Serve([log("1", 1), log("2", 2)], end="drop"),
            Serve([log("1", 1), log("2", 2), completed("3")]),
        ),
        ("training.log", "training.log", "training.completed"),
        opens=2,
        resume=(None, "2"),
        delays=(1.0,),
    ),
    Case(
        "failures reset by data: drop, 503, drop, done",
        (
            Serve([log("1", 1)], end="drop"),
            Reject(503),
            Serve([log("2", 2)], end="drop"),
            Serve([completed("3")]),
        ),
        ("training.log", "training.log", "training.completed"),
        opens=4,
        resume=(None, "1", "1", "2"),
        delays=(1.0, 2.0, 1.0),
    ),
    Case(
        "unknown event type: passed on",
        (Serve([_UNKNOWN, completed("6")]),),
        ("training.mystery", "training.completed"),
        opens=1,
    ),
    Case(
        "training.failed: terminal, no reconnect",
        (Serve([started("0"), failed("9")]), _DONE),
        ("training.started", "training.failed"),
        opens=1,
    ),
]
