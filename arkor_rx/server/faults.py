"""Fault injection for the event stream and the runs: for tests, demos and chaos drills.

Every fault is off by default. They act only on
``GET /v1/jobs/{id}/events/stream``; the JSON routes are never disturbed.
The one exception is ``fail_at_step``, which breaks the training run itself:
the job fails at that step exactly as a real failure would.

Rule 1: faults never lose or reorder events. A dropped connection resumes
after ``Last-Event-ID`` like any other; garbage frames carry no ``id`` and
no parseable event; failed opens happen before anything is sent.

Rule 2: ``fail_first_opens`` counts stream opens across the whole server
(every job), from its start, after authentication.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from arkor_rx.errors import ConfigError
from arkor_rx.sse import encode, encode_comment

__all__ = ["FaultConfig", "garbage_frame", "injected_failure"]


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """What to break in the event stream.

    Examples:
        >>> faults = FaultConfig(drop_after_events=3, fail_first_opens=2, fail_status=503)
        >>> faults.active, FaultConfig().active
        (True, False)
        >>> FaultConfig(fail_at_step=5).fail_at_step  # every job fails at its step 5
        5
        >>> FaultConfig(hold_at_step=100).active  # every job waits at step 100 for a cancel
        True

    Raises:
        ConfigError (a ValueError): a negative count or delay, a ``fail_status`` that is not
            an HTTP error status (400-599), or a ``fail_at_step`` or ``hold_at_step`` below 1.
    """

    drop_after_events: int | None = None
    """Close every stream connection (cleanly) after it has sent this many events."""
    garbage_every: int = 0
    """Write a garbage frame (not JSON, a JSON non-object, a comment ...) before
    every ``garbage_every``-th event; 0 turns it off, 1 means before every event."""
    fail_first_opens: int = 0
    """Answer the first K stream opens with ``fail_status`` and a JSON error."""
    fail_status: int = 503
    """The status of the failed opens (503, 429, 500, 404 ...)."""
    frame_delay: float = 0.0
    """Seconds to wait before writing each event frame."""
    fail_at_step: int | None = None
    """Make every job fail at this training step, like a real failure: steps
    before it run (their logs and checkpoints stay), step N never completes,
    and the job ends with status ``failed`` and a ``training.failed`` event
    whose ``step`` is N and whose ``error`` says it is an injected fault at
    step N. A run shorter than N steps (or a dry run) completes normally."""
    hold_at_step: int | None = None
    """Make every job wait before its training step N until it is cancelled (or the
    server stops): steps before N run and are streamed, then the job holds, so it
    can never complete before a client's cancel arrives, however slow the client
    is. For tests of a stop that must end ``cancelled`` on a loaded machine as on
    an idle one (give the runs that must be stopped N steps or more). A run
    shorter than N steps completes normally."""

    def __post_init__(self) -> None:
        if self.drop_after_events is not None and self.drop_after_events < 1:
            raise ConfigError(f"drop_after_events must be at least 1, got {self.drop_after_events}")
        if self.garbage_every < 0:
            raise ConfigError(f"garbage_every must be at least 0, got {self.garbage_every}")
        if self.fail_first_opens < 0:
            raise ConfigError(f"fail_first_opens must be at least 0, got {self.fail_first_opens}")
        if not 400 <= self.fail_status <= 599:
            raise ConfigError(f"fail_status must be a status 400-599, got {self.fail_status}")
        if not self.frame_delay >= 0:
            raise ConfigError(f"frame_delay must be at least 0, got {self.frame_delay}")
        if self.fail_at_step is not None and self.fail_at_step < 1:
            raise ConfigError(f"fail_at_step must be at least 1, got {self.fail_at_step}")
        if self.hold_at_step is not None and self.hold_at_step < 1:
            raise ConfigError(f"hold_at_step must be at least 1, got {self.hold_at_step}")

    @property
    def active(self) -> bool:
        """True when any fault is on."""
        return bool(
            self.drop_after_events
            or self.garbage_every
            or self.fail_first_opens
            or self.frame_delay
            or self.fail_at_step
            or self.hold_at_step
        )


_GARBAGE: Final[tuple[bytes, ...]] = (
    encode("this is not json {", event="training.log"),
    encode("[1, 2, 3]"),
    encode_comment("garbage: a comment line"),
    encode('{"type": "training.log", "step": "not a number"}', event="training.log"),
    b"data: \xff\xfe not utf-8\n\n",
)


def injected_failure(step: int) -> str:
    """The ``error`` of a job failed by ``fail_at_step`` at ``step``.

    Examples:
        >>> injected_failure(3)
        'injected fault at step 3'
    """
    return f"injected fault at step {step}"


def garbage_frame(n: int) -> bytes:
    """The ``n``-th garbage frame (they rotate): bytes a client must skip.

    None of them carries an ``id`` or an event a tolerant parser accepts.
    """
    return _GARBAGE[n % len(_GARBAGE)]
