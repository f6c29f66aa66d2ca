"""Typed training events, decoded from the frames of the job event stream.

Rule 1: every event is a frozen pydantic v2 model: snake_case attributes in
Python, camelCase on the wire, unknown extra fields ignored (the server adds
fields over time).

Rule 2: one module-level ``TypeAdapter`` validates the raw JSON bytes of a
frame in a single call (``validate_json``); a callable discriminator picks the
class from the ``type`` field, and any type we do not know becomes an
[`UnknownEvent`][arkor_rx.events.UnknownEvent] instead of an error.

Rule 3: [`parse_event`][arkor_rx.events.parse_event] never raises for bad input from the wire: a
keepalive, an ``end`` frame or a frame that is not a JSON object of the right
shape gives ``None``; the stream goes on.

Rule 4: [`parse_frames`][arkor_rx.events.parse_frames] gives, for a whole chunk's frames at once,
exactly
what [`parse_event`][arkor_rx.events.parse_event] gives for each: every frame goes through the
validator its SSE name picks (the class's own; for any other name a tagged
union that pydantic-core resolves in Rust from the JSON ``type``), mapped over
the chunk with no Python frame per event; only a frame its validator refuses
(an unknown type, a bad shape, not JSON) takes the per-frame path of
[`parse_event`][arkor_rx.events.parse_event], so unknown types still become
[`UnknownEvent`][arkor_rx.events.UnknownEvent].
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from itertools import compress, repeat
from operator import attrgetter, call, is_not, setitem
from typing import Annotated, Any, ClassVar, Final, Literal, NamedTuple, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from arkor_rx._columns import pick
from arkor_rx.sse import Frames, ServerSentEvent

__all__ = [
    "EVENT_CLASSES",
    "KEEPALIVE_EVENT",
    "TERMINAL_STREAM_EVENT",
    "CheckpointSaved",
    "TrainingCompleted",
    "TrainingEvent",
    "TrainingFailed",
    "TrainingLog",
    "TrainingStarted",
    "UnknownEvent",
    "event_adapter",
    "parse_event",
    "parse_frames",
    "wire_data",
]

KEEPALIVE_EVENT = "ping"
"""SSE ``event:`` name of keepalive frames: they are not progress."""

TERMINAL_STREAM_EVENT = "end"
"""SSE ``event:`` name that ends the stream for good: do not reconnect."""


class _EventBase(BaseModel):
    # The frame's ``data`` text, kept beside the fields (a slot: not a field, not
    # in ``__dict__``, so ``==``, ``repr``, copies and pickles never see it) for
    # what wants the JSON exactly as received (``sinks.JSONL``, the sink worker).
    # A copy or an event built in Python has none: see ``wire_data``.
    __slots__ = ("_wire",)

    model_config = ConfigDict(
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        ser_json_inf_nan="constants",
    )

    type: str
    """The wire type, e.g. ``"training.log"``."""
    job_id: str = ""
    """The job this event belongs to."""
    timestamp: str | None = None
    """When the server emitted it, as the ISO-8601 string it sent."""
    event_id: str | None = Field(default=None, exclude=True)
    """The SSE ``id`` the event arrived with (None when it had none). Not part of the JSON."""

    terminal: ClassVar[bool] = False
    """True for the events that end a run (completed, failed)."""

    def to_json(self) -> str:
        """The event as wire JSON (camelCase, without ``event_id``)."""
        return self.model_dump_json(by_alias=True)


class TrainingStarted(_EventBase):
    """The job started running (``training.started``)."""

    type: Literal["training.started"] = "training.started"
    metadata: dict[str, Any] | None = None
    """Free-form details the backend sends with the start (model, dataset size, ...)."""


class TrainingLog(_EventBase):
    """A metrics frame (``training.log``). Every metric may be None (not logged this step)."""

    type: Literal["training.log"] = "training.log"
    step: int
    """The optimizer step the metrics were taken at."""
    loss: float | None = None
    """Training loss (may be ``nan``/``inf`` when a run diverges)."""
    eval_loss: float | None = None
    """Held-out loss, on evaluation steps only."""
    learning_rate: float | None = None
    """The learning rate used at this step."""
    epoch: float | None = None
    """Fractional epoch (0.5 = half way through the first pass)."""
    samples_per_second: float | None = None
    """Training throughput."""

    def metric(self, name: str) -> float | None:
        """The metric called ``name`` (snake_case or camelCase), or None when absent.

        Raises:
            KeyError: ``name`` is not a metric of this event.
        """
        key = _METRIC_NAMES.get(name)
        if key is None:
            raise KeyError(f"unknown metric {name!r}; expected one of {sorted(_SNAKE_METRICS)}")
        value: float | None = getattr(self, key)
        return value

    @property
    def is_finite(self) -> bool:
        """False when the loss is NaN or infinite."""
        return self.loss is None or math.isfinite(self.loss)


_SNAKE_METRICS = ("loss", "eval_loss", "learning_rate", "epoch", "samples_per_second")
_METRIC_NAMES = {**{n: n for n in _SNAKE_METRICS}, **{to_camel(n): n for n in _SNAKE_METRICS}}


class CheckpointSaved(_EventBase):
    """An adapter checkpoint was written (``checkpoint.saved``)."""

    type: Literal["checkpoint.saved"] = "checkpoint.saved"
    step: int
    """The step the checkpoint was taken at."""
    artifacts: list[Any] = Field(default_factory=list)
    """What the backend stored (shape not fixed by the protocol)."""


class TrainingCompleted(_EventBase):
    """The run finished successfully (``training.completed``)."""

    type: Literal["training.completed"] = "training.completed"
    metrics: dict[str, Any] | None = None
    """Final metrics, when the backend sends them."""
    artifacts: list[Any] = Field(default_factory=list)
    """The final artifacts (adapter files and the like)."""

    terminal: ClassVar[bool] = True


class TrainingFailed(_EventBase):
    """The run failed (``training.failed``)."""

    type: Literal["training.failed"] = "training.failed"
    error: str = "unknown error"
    """What went wrong, as the backend said it."""
    step: int | None = None
    """The step it failed at, when known."""

    terminal: ClassVar[bool] = True


class UnknownEvent(_EventBase):
    """An event of a type this version does not know. Passed on, never a crash."""

    raw: dict[str, Any]
    """The decoded JSON object exactly as it arrived."""

    @model_validator(mode="before")
    @classmethod
    def _wrap(cls, data: Any) -> Any:
        if isinstance(data, dict) and "raw" not in data:
            return {
                "type": str(data.get("type", "")),
                "jobId": data.get("jobId", data.get("job_id", "")),
                "timestamp": data.get("timestamp"),
                "raw": data,
            }
        return data


_KNOWN: dict[str, type[_EventBase]] = {
    "training.started": TrainingStarted,
    "training.log": TrainingLog,
    "checkpoint.saved": CheckpointSaved,
    "training.completed": TrainingCompleted,
    "training.failed": TrainingFailed,
}


def _tag(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("type")
    elif isinstance(value, _EventBase):
        kind = value.type
    else:
        return None  # not an object: a validation error, so parse_event gives None
    return kind if kind in _KNOWN else "unknown"


EVENT_CLASSES: Final = (
    TrainingStarted,
    TrainingLog,
    CheckpointSaved,
    TrainingCompleted,
    TrainingFailed,
    UnknownEvent,
)
"""The six event classes, in a run's order: ``isinstance(item, EVENT_CLASSES)`` tells an
event from anything else on a stream (a sample's answers, a sweep's decision)."""

TrainingEvent: TypeAlias = Annotated[
    Annotated[TrainingStarted, Tag("training.started")]
    | Annotated[TrainingLog, Tag("training.log")]
    | Annotated[CheckpointSaved, Tag("checkpoint.saved")]
    | Annotated[TrainingCompleted, Tag("training.completed")]
    | Annotated[TrainingFailed, Tag("training.failed")]
    | Annotated[UnknownEvent, Tag("unknown")],
    Discriminator(_tag),
]
"""Any event of the stream: the union of the six event classes."""

event_adapter: TypeAdapter[TrainingEvent] = TypeAdapter(TrainingEvent)
"""The module-level adapter: ``event_adapter.validate_json(b'{...}')``."""

_validate_json = event_adapter.validate_json
# Fast path: the SSE ``event:`` name usually equals the JSON ``type``, and one
# class's validator is about twice as fast as the discriminated union (which
# calls back into Python for the tag). Anything it does not accept exactly,
# a mismatched or missing ``type`` included, goes through the union, so the
# result is always the union's.
_BY_EVENT_NAME = {name: cls.__pydantic_validator__.validate_json for name, cls in _KNOWN.items()}


def parse_event(sse: ServerSentEvent) -> TrainingEvent | None:
    """Turn one SSE frame into a typed event.

    Returns ``None``, and never raises, for a frame that carries no event:
    a ``ping`` keepalive, the ``end`` frame, an empty ``data``, a ``data``
    that is not JSON, a JSON value that is not an object, or an object whose
    fields do not fit its type (say, a ``training.log`` without ``step``).
    An object with a ``type`` this version does not know becomes an
    [`UnknownEvent`][arkor_rx.events.UnknownEvent]. The frame's SSE ``id`` is kept as ``event_id``.

    Examples:
        >>> from arkor_rx.sse import ServerSentEvent
        >>> ev = parse_event(ServerSentEvent(
        ...     event="training.log", id="7",
        ...     data='{"type":"training.log","jobId":"j1","step":70,"loss":1.23}'))
        >>> (type(ev).__name__, ev.step, ev.loss, ev.event_id)
        ('TrainingLog', 70, 1.23, '7')
    """
    event = _parse(sse.event, sse.data)
    if event is not None:
        _set_wire(event, sse.data)
    if event is not None and sse.id is not None:
        # The models are frozen for users; the id is attached once, right here,
        # into the instance dict (where object.__setattr__ would put it), without
        # the cost of a model_copy or of a generic setattr on the hot path.
        event.__dict__["event_id"] = sse.id
    return event


def wire_data(event: object) -> str | None:
    """The ``data`` text of the SSE frame ``event`` was parsed from, exactly as received.

    None for anything not parsed from a frame: an event built in Python, a
    ``model_copy`` (which may have changed fields), an unpickled event. A
    custom sink that forwards the wire JSON uses this instead of
    re-serializing the event.

    Examples:
        >>> from arkor_rx.sse import ServerSentEvent
        >>> ev = parse_event(ServerSentEvent(
        ...     event="training.log", data='{"type": "training.log", "step": 1, "x": 2}'))
        >>> wire_data(ev)
        '{"type": "training.log", "step": 1, "x": 2}'
        >>> wire_data(ev.model_copy()) is None
        True
    """
    try:
        return _get_wire(event)
    except (AttributeError, TypeError):
        return None


def _parse(name: str, data: str) -> TrainingEvent | None:
    """[`parse_event`][arkor_rx.events.parse_event] of a frame's type and data, without the id."""
    if not data:
        return None
    event: TrainingEvent | None = None
    fast = _BY_EVENT_NAME.get(name)  # never ``ping`` nor ``end``
    if fast is not None:
        try:
            event = fast(data)
        except ValidationError:
            event = None
        else:
            if "type" not in event.__pydantic_fields_set__:
                event = None  # the union decides what a type-less object is
    elif name in (KEEPALIVE_EVENT, TERMINAL_STREAM_EVENT):
        return None
    if event is None:
        try:
            event = _validate_json(data)
        except ValidationError:
            return None
        if name != event.type:  # off the fast path: kept for recordings (sinks.JSONL)
            event.__dict__["sse_event"] = name
    return event


# The known types as a union that pydantic-core resolves from the JSON ``type``
# in Rust (no Python discriminator call): a missing or unknown ``type`` is a
# validation error, and [`_parse`][arkor_rx.events._parse] then decides (UnknownEvent or None).
_Tagged: TypeAlias = Annotated[
    TrainingStarted | TrainingLog | CheckpointSaved | TrainingCompleted | TrainingFailed,
    Field(discriminator="type"),
]
_validate_tagged: Final[Callable[[str], TrainingEvent]] = TypeAdapter(
    _Tagged
).validator.validate_json
_skip: Final[Callable[[str], None]] = dict[str, None]().get  # None for any data, in C
_BATCH_VALIDATORS: Final[dict[str, Callable[[str], TrainingEvent | None]]] = {
    **_BY_EVENT_NAME,
    KEEPALIVE_EVENT: _skip,
    TERMINAL_STREAM_EVENT: _skip,
}
_set_wire: Final[Callable[[Any, str], None]] = _EventBase._wire.__set__  # type: ignore[attr-defined]
_get_wire: Final[Callable[[Any], str]] = _EventBase._wire.__get__  # type: ignore[attr-defined]
_fields_set_of: Final[Callable[[Any], set[str]]] = attrgetter("__pydantic_fields_set__")
_has_type: Final = set.__contains__
_dict_of: Final[Callable[[Any], dict[str, Any]]] = attrgetter("__dict__")
_consume: Final[Callable[[Iterable[object]], None]] = deque[object](maxlen=0).extend


class Parsed(NamedTuple):
    """The typed events of a chunk's frames (see [`parse_frames`][arkor_rx.events.parse_frames])."""

    aligned: list[TrainingEvent | None]
    """One entry per frame: its event, or None (a keepalive, a bad frame)."""
    present: list[bool]
    """One flag per frame: True where ``aligned`` holds an event."""
    events: list[TrainingEvent]
    """The events alone, in order (``aligned`` without the Nones)."""
    ids: list[str | None]
    """The events' SSE ids, in the same order."""


def parse_frames(frames: Frames) -> list[TrainingEvent | None]:
    """[`parse_event`][arkor_rx.events.parse_event] of every frame of a chunk, in one pass; one
    entry per frame.

    Examples:
        >>> from arkor_rx.sse import SSEDecoder
        >>> chunk = (b'id: 1\\nevent: training.log\\ndata: {"type":"training.log","step":1}\\n\\n'
        ...          b'event: ping\\ndata:\\n\\n')
        >>> [type(e).__name__ for e in parse_frames(SSEDecoder().feed_frames(chunk))]
        ['TrainingLog', 'NoneType']
    """
    return parse_batch(frames).aligned


def parse_batch(frames: Frames) -> Parsed:
    """[`parse_frames`][arkor_rx.events.parse_frames], with the events also picked out (for the
    event stream)."""
    types, datas = frames.type, frames.data
    aligned: list[TrainingEvent | None] = []
    # Each frame's validator by its SSE name (the class's own, as in parse_event;
    # the tagged union for any other name; none for keepalives and ``end``),
    # called from C over the whole chunk.
    parsed = map(call, map(_BATCH_VALIDATORS.get, types, repeat(_validate_tagged)), datas)
    while True:
        try:
            aligned.extend(parsed)  # what was validated before an error stays in the list
            break
        except ValidationError:
            i = len(aligned)  # the frame its validator refused: the per-frame rules decide
            aligned.append(_parse(types[i], datas[i]))
    present = list(map(is_not, aligned, repeat(None)))
    events: list[TrainingEvent]
    events, ids = pick(aligned, present, frames.id)
    if not all(map(_has_type, map(_fields_set_of, events), repeat("type"))):
        # A class validator took an object without ``type`` (the field has a
        # default): as in parse_event, the union decides what such an object is.
        for i, (name, data) in enumerate(zip(types, datas, strict=True)):
            event = aligned[i]
            if event is not None and "type" not in event.__pydantic_fields_set__:
                aligned[i] = _parse(name, data)
        present = list(map(is_not, aligned, repeat(None)))
        events, ids = pick(aligned, present, frames.id)
    _consume(map(setitem, map(_dict_of, events), repeat("event_id"), ids))
    _consume(map(_set_wire, events, datas if events is aligned else compress(datas, present)))
    if not all(map(_BATCH_VALIDATORS.__contains__, types)):
        _keep_sse_names(types, aligned)
    return Parsed(aligned, present, events, ids)


def _keep_sse_names(types: list[str], aligned: list[TrainingEvent | None]) -> None:
    """Keep the SSE name of an event whose frame named another type (for sinks.JSONL).

    Rare on a real stream (a frame without ``event:`` is ``"message"``), so this
    runs only for a chunk that has such a frame, as [`_parse`][arkor_rx.events._parse] does per
    frame.
    """
    for name, event in zip(types, aligned, strict=True):
        if event is not None and name != event.type:
            event.__dict__["sse_event"] = name
