"""What the client fault scripts need beyond the shared fake backend (imported as ``faults``).

The scripted backend is ``tests.core.core_fakes.FakeBackend``, used as it is;
:class:`FaultBackend` only adds two kinds of answer it does not script: a raw
error answer with exact body bytes (to spell a token in JSON escapes) and a
redirect. Its ``plan`` mixes them with the shared ``Reject``/``Serve`` steps.
Also here: every way JSON can spell a token, and the search of an error (its
message, repr, args, attributes, traceback and cause chain) for a secret.
"""

from __future__ import annotations

import contextlib
import json
import traceback
from dataclasses import dataclass, field

from aiohttp import web

from arkor_rx._redaction import Redactor
from arkor_rx.events import TrainingEvent
from arkor_rx.stream import EventStream
from tests.core.core_fakes import Connection, FakeBackend, Reject, Serve


@dataclass
class Raw:
    """Answer with ``status``, these exact body bytes and headers."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Redirect:
    """Answer ``status`` with ``Location: location``."""

    status: int
    location: str


Fault = Reject | Serve | Raw | Redirect


class FaultBackend(FakeBackend):
    """The shared fake backend, plus raw answers and redirects (``plan``)."""

    def __init__(self) -> None:
        super().__init__()
        self.plan: list[Fault] = []

    def stream_url(self) -> str:
        """The absolute URL of the job's event stream, scope included."""
        return f"{self.url}/v1/jobs/j1/events/stream?orgSlug=org&projectSlug=proj"

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        # The shared backend routes the stream to self._stream: the plan goes first.
        if self.plan:
            step = self.plan.pop(0)
            if isinstance(step, Reject | Serve):
                self.script.insert(0, step)
            else:
                conn = Connection(dict(request.headers))
                self.connections.append(conn)
                self.connected.set()
                try:
                    if isinstance(step, Raw):
                        return web.Response(
                            status=step.status, body=step.body, headers=step.headers
                        )
                    return web.Response(status=step.status, headers={"Location": step.location})
                finally:
                    conn.closed.set()
        return await super()._stream(request)


# --- spelling a token in JSON ----------------------------------------------------------

_SHORT = {'"': '\\"', "\\": "\\\\", "/": "\\/"}


def _u(ch: str, upper: bool) -> str:
    units = ch.encode("utf-16-be")
    out = ""
    for i in range(0, len(units), 2):
        code = f"{int.from_bytes(units[i : i + 2], 'big'):04x}"
        out += "\\u" + (code.upper() if upper else code)
    return out


def _mixed_case(ch: str, index: int) -> str:
    code = _u(ch, upper=False)
    # Alternate the case of the hex letters, so one escape holds both cases.
    return "".join(
        c.upper() if c.isalpha() and c != "u" and (index + n) % 2 else c for n, c in enumerate(code)
    )


def json_spellings(token: str) -> dict[str, str]:
    """Every escape form JSON allows, each a string literal body that decodes to ``token``."""
    forms = {
        "literal": "".join(_SHORT.get(c, c) if c in '"\\' else c for c in token),
        "slash": "".join(_SHORT.get(c, c) for c in token),
        "u-lower": "".join(_u(c, upper=False) for c in token),
        "u-upper": "".join(_u(c, upper=True) for c in token),
        "u-mixed-case": "".join(_mixed_case(c, i) for i, c in enumerate(token)),
        "u-every-other": "".join(
            _u(c, upper=i % 4 == 1) if i % 2 else _SHORT.get(c, c) if c in '"\\' else c
            for i, c in enumerate(token)
        ),
        "u-slash-only": "".join("\\u002F" if c == "/" else _SHORT.get(c, c) for c in token),
    }
    for name, text in forms.items():
        decoded = json.loads(f'"{text}"')
        assert decoded == token, (name, text, decoded)
    return forms


def echo_body(spelling: str) -> bytes:
    """An error body that echoes the token (as ``spelling``) in its message, a field and a key."""
    text = (
        f'{{"error": "bad token {spelling}", "detail": {{"echo": ["Bearer {spelling}"]}}, '
        f'"{spelling}": 1}}'
    )
    return text.encode()


# --- looking for the token ------------------------------------------------------------


def error_texts(error: BaseException) -> list[str]:
    """Everything a person could read of ``error`` and of its causes."""
    texts: list[str] = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        texts.append(repr(getattr(current, "__dict__", {})))
        body = getattr(current, "body", None)
        if body is not None:
            texts.append(json.dumps(body))
        current = current.__cause__ or current.__context__
    return texts


def assert_no_secret(token: str, *texts: str) -> None:
    """Neither ``token`` nor any JSON spelling of it appears in ``texts``."""
    redactor = Redactor(token)
    for text in texts:
        assert token not in text
        assert redactor.text(text) == text, f"an escaped spelling of the token in {text[:200]!r}"


async def drain(stream: EventStream) -> list[TrainingEvent]:
    """Every event of ``stream`` until it ends (or raises); the stream is closed after."""
    async with contextlib.aclosing(stream):
        return [event async for event in stream]
