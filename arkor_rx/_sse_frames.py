"""The decoder's output types: one [`ServerSentEvent`][arkor_rx.sse.ServerSentEvent], or a chunk's
[`Frames`][arkor_rx.sse.Frames].

Part of [`arkor_rx.sse`][arkor_rx.sse] (import them from there); kept apart so that the
decoder's module holds the decoder.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import repeat
from typing import Final

__all__ = ["Frames", "ServerSentEvent"]


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched Server-Sent Event.

    Events compare, hash and print by value. Build one by hand for tests::

        >>> ServerSentEvent(data="hi")
        ServerSentEvent(event='message', data='hi', id=None, retry=None)
    """

    event: str = "message"
    """The event type: the block's last ``event:`` value, or ``"message"`` when the
    block had no ``event`` field or an empty one."""

    data: str = ""
    """The block's ``data:`` values joined with LF (no trailing LF). May be ``''``,
    for a block with a single empty ``data`` line (``data:`` or just ``data``)."""

    id: str | None = None
    """The last event ID at dispatch time: set by this block's ``id`` field or
    carried over from an earlier block. ``None`` when the ID is empty (no ``id``
    field yet, or the last one was empty, which resets it)."""

    retry: int | None = None
    """The reconnection time, in milliseconds, set by a valid ``retry`` field in
    this very block (the last one if several); ``None`` when the block had none.
    Unlike [`SSEDecoder.retry`][arkor_rx.sse.SSEDecoder.retry], it does not carry over to later
    events."""

    id_carried: bool = field(default=False, compare=False, repr=False)
    """True when the block had no ``id`` field of its own, so that
    [`id`][arkor_rx.sse.ServerSentEvent.id] is
    the one carried over from an earlier block (WHATWG: the last event ID
    persists); False when the block set it itself (an empty ``id`` included).
    A frame that repeats the previous frame's id *itself* is a repeat, one that
    carries it over is not: this flag tells the two apart. It takes no part in
    comparison, hashing or the repr, so events built by hand still compare
    equal to decoded ones."""


@dataclass(frozen=True, slots=True)
class Frames:
    """The frames of one [`SSEDecoder.feed_frames`][arkor_rx.sse.SSEDecoder.feed_frames] call, as
    columns (no object per frame).

    Frame ``i`` is ``(type[i], data[i], id[i])``, with the same values a
    [`ServerSentEvent`][arkor_rx.sse.ServerSentEvent] would hold. Only the rare fields are sparse:
    ``carried`` lists the indexes of the frames whose id was carried over
    ([`ServerSentEvent.id_carried`][arkor_rx.sse.ServerSentEvent.id_carried]), and ``retry`` maps an
    index to the
    frame's ``retry`` field when it had one.

    Examples:
        >>> from arkor_rx.sse import SSEDecoder
        >>> frames = SSEDecoder().feed_frames(b"id: 1\\ndata: a\\n\\ndata: b\\n\\n")
        >>> frames.type, frames.data, frames.id, frames.carried, len(frames)
        (['message', 'message'], ['a', 'b'], ['1', '1'], [1], 2)
    """

    type: list[str]
    """Each frame's event type (``"message"`` when the block had none)."""
    data: list[str]
    """Each frame's data."""
    id: list[str | None]
    """Each frame's id (set by the block or carried over; None when empty)."""
    carried: list[int]
    """Indexes of the frames whose id was carried over, in order."""
    retry: dict[int, int]
    """Index to ``retry`` value, for the frames that had a valid ``retry`` field."""

    def __len__(self) -> int:
        return len(self.type)

    def events(self) -> list[ServerSentEvent]:
        """The same frames as [`ServerSentEvent`][arkor_rx.sse.ServerSentEvent] objects."""
        n = len(self.type)
        events = list(map(_new_event, repeat(ServerSentEvent, n)))
        _consume(map(_set_event, events, self.type))
        _consume(map(_set_data, events, self.data))
        _consume(map(_set_id, events, self.id))
        _consume(map(_set_retry, events, repeat(None, n)))
        _consume(map(_set_carried, events, repeat(False, n)))
        for i, value in self.retry.items():
            _set_retry(events[i], value)
        for i in self.carried:
            _set_carried(events[i], True)
        return events


# Building a frozen dataclass through its __init__ goes through object.__setattr__
# once per field, which costs more than the rest of a frame's decoding. On the hot
# path the decoder makes the objects with object.__new__ and fills their slots
# through the slot descriptors, mapped over whole lists of frames (C-level loops,
# no Python frame per event): the same objects, equal to what __init__ builds, in a
# fraction of the time. The descriptors write the slots directly, which is what
# the frozen __init__ itself does through object.__setattr__.
_new_event: Final = object.__new__
_set_event: Final[Callable[[ServerSentEvent, str], None]] = vars(ServerSentEvent)["event"].__set__
_set_data: Final[Callable[[ServerSentEvent, str], None]] = vars(ServerSentEvent)["data"].__set__
_set_id: Final[Callable[[ServerSentEvent, str | None], None]] = vars(ServerSentEvent)["id"].__set__
_set_retry: Final[Callable[[ServerSentEvent, int | None], None]] = vars(ServerSentEvent)[
    "retry"
].__set__
_set_carried: Final[Callable[[ServerSentEvent, bool], None]] = vars(ServerSentEvent)[
    "id_carried"
].__set__

_consume: Final[Callable[[Iterable[object]], None]] = deque[object](maxlen=0).extend
