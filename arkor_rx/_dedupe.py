"""De-duplication and resume ids for one chunk of the event stream, sans-IO.

The pure half of [`EventStream`][arkor_rx.stream.EventStream]: given a chunk's frames
and their typed events, [`Planner.plan`][arkor_rx._dedupe.Planner.plan] decides which events to
deliver,
and what the resume id is while each of them is being handled. No socket, no
loop, no clock.

Rule 1 (own ids). Only a frame that sent its ``id`` itself is checked and
remembered; one whose id SSE carried over from an earlier block
([`id_carried`][arkor_rx.sse.ServerSentEvent.id_carried]) is neither. So the same
frame sent twice in a row, each time with its own id, is delivered once.

Rule 2 (the window). The ids of the last ``size`` delivered events are
remembered, exactly (a set to test, the same ids in order to forget the
oldest); an event whose own id is among them is a duplicate. Ids are opaque
strings here. The window is updated for a whole chunk at once (C-level set
and list operations), and only a chunk that holds a duplicate, or a frame
that needs a closer look, is planned frame by frame.

Rule 3 (the high-water mark). When the ids in the window are increasing
integers (canonical decimals, each larger than the one before: the local
backend's and the official cloud's), the last of them is a high-water mark.
A connection opened with ``Last-Event-ID`` starts in a replay guard: until
the first frame whose own id is above the mark (or not an integer), every
frame with an integer id at or below it is a duplicate, however long the
replay. A server that ignores ``Last-Event-ID`` and replays a run from its
start therefore delivers nothing twice. Within one connection, ids are taken
as they come (the window of Rule 2 decides).

Rule 4 (resume ids). While event ``k`` of a chunk is handled, the resume id
is the id of the last frame before it that was not a duplicate (a skipped
frame, a keepalive or a bad frame, is done once reached), or the resume id the
chunk started with. Duplicates never move it.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress, islice
from operator import length_hint, lt
from typing import Final

from arkor_rx.events import Parsed, TrainingCompleted, TrainingEvent, TrainingFailed
from arkor_rx.sse import Frames

__all__ = ["Batch", "Planner"]

_TERMINAL: Final = frozenset({TrainingCompleted, TrainingFailed})
_INTEGERS: Final = re.compile(r"(?:0|[1-9][0-9]{0,30})(?:\n(?:0|[1-9][0-9]{0,30}))*")
"""Canonical decimal integers, one per line (no sign, no leading zero, no space)."""


def _integer(value: str) -> int | None:
    return int(value) if _INTEGERS.fullmatch(value) else None


@dataclass(slots=True)
class Batch:
    """The events of one chunk to deliver, with what the stream reports while they are handled.

    The consumer takes the events from `iterator` in a plain loop; how
    far it got is read back from the iterator itself (its length hint), so
    delivering costs no bookkeeping per event. An event counts as handled once
    the consumer takes the next one, or asks for the next batch.
    """

    events: list[TrainingEvent]
    entry: str | None
    """The resume id when the chunk began."""
    end: str | None
    """The resume id once every frame of the chunk was done."""
    frame_ids: list[str | None]
    present: list[bool]
    marks: list[str | None] | None = None
    """Resume id while event k is handled (frame by frame plans); None: from the frames."""
    dups_before: list[int] | None = None
    """Duplicates met before event k (frame by frame plans); None: none at all."""
    duplicates: int = 0
    stop: bool = False
    """The chunk ends the stream (a terminal event, or an ``end`` frame)."""
    iterator: Iterator[TrainingEvent] = field(init=False)

    def __post_init__(self) -> None:
        self.iterator = iter(self.events)

    def handled(self) -> int:
        """How many of the events the consumer has handled so far."""
        return max(0, len(self.events) - length_hint(self.iterator) - 1)

    def resume_id(self, handled: int) -> str | None:
        """The resume id once ``handled`` events were handled (the next one not yet)."""
        if handled >= len(self.events):
            return self.end
        if self.marks is not None:
            return self.marks[handled]
        position = next(islice(compress(range(len(self.present)), self.present), handled, None))
        return self.frame_ids[position - 1] if position > 0 else self.entry

    def duplicates_before(self, handled: int) -> int:
        if self.dups_before is None or handled >= len(self.events):
            return self.duplicates
        return self.dups_before[handled]


class Planner:
    """The de-duplication state of one stream (Rules 1 to 3) and the chunk planner.

    Args:
        size: how many ids the window holds; 0 turns de-duplication off.
    """

    __slots__ = ("_fresh", "_guard", "_ids", "_order", "_size", "_stored", "replays")

    def __init__(self, size: int) -> None:
        self._size = size
        self._ids: set[str | None] = set()
        self._order: deque[list[str | None]] = deque()  # the window's ids, oldest first
        self._stored = 0
        self._guard: int | None = None
        self._fresh = False  # a resumed connection that delivered nothing new yet
        self.replays = 0
        """Resumed connections on which the server sent again what was delivered."""

    def high_water(self) -> int | None:
        """The high-water mark (Rule 3); None unless the window holds increasing integers."""
        if not self._stored:
            return None
        joined = "\n".join(chain.from_iterable(self._order))  # type: ignore[arg-type]
        if not _INTEGERS.fullmatch(joined):
            return None
        numbers = list(map(int, joined.split("\n")))
        if not all(map(lt, numbers, islice(numbers, 1, None))):
            return None
        return numbers[-1]

    def connected(self, *, resumed: bool) -> None:
        """A new connection opened (``resumed``: with a ``Last-Event-ID``)."""
        self._fresh = resumed and self._size > 0
        self._guard = self.high_water() if self._fresh else None

    def plan(self, frames: Frames, parsed: Parsed, entry: str | None) -> Batch:
        """Decide what a chunk delivers (``frames`` truncated before any ``end`` frame)."""
        events, ids = parsed.events, parsed.ids
        stop = False
        end = frames.id[-1]
        if not _TERMINAL.isdisjoint(map(type, events)):
            cut = next(i for i, e in enumerate(events) if e.terminal) + 1
            events, ids, stop, end = events[:cut], ids[:cut], True, ids[cut - 1]
        if self._size == 0 or (
            self._guard is None
            and not any(map(parsed.present.__getitem__, frames.carried))
            and self._take(ids)
        ):
            if events:
                self._fresh = False
            return Batch(
                events,
                entry,
                end,
                frames.id,
                parsed.present,
                stop=stop,
            )
        return self._plan_frames(frames, parsed, entry, stop)

    def _take(self, ids: list[str | None]) -> bool:
        """Remember a whole chunk's ids if none is a duplicate (nor None); else change nothing."""
        window = self._ids
        if not window.isdisjoint(ids):
            return False
        before = len(window)
        window.update(ids)
        if len(window) - before != len(ids) or None in window:
            window.difference_update(ids)  # a repeat inside the chunk, or an empty id
            return False
        self._order.append(ids)
        self._stored += len(ids)
        self._evict()
        return True

    def _remember(self, event_id: str) -> None:
        self._ids.add(event_id)
        self._order.append([event_id])
        self._stored += 1
        self._evict()

    def _evict(self) -> None:
        excess = self._stored - self._size
        order = self._order
        while excess > 0:
            oldest = order[0]
            if len(oldest) <= excess:
                order.popleft()
                self._ids.difference_update(oldest)
                excess -= len(oldest)
                self._stored -= len(oldest)
            else:
                self._ids.difference_update(oldest[:excess])
                order[0] = oldest[excess:]
                self._stored -= excess
                excess = 0

    def _plan_frames(self, frames: Frames, parsed: Parsed, entry: str | None, stop: bool) -> Batch:
        """Rules 1 to 4 frame by frame: the exact path for chunks that need it."""
        carried = set(frames.carried)
        kept: list[TrainingEvent] = []
        marks: list[str | None] = []
        dups_before: list[int] = []
        dups = 0
        resume = entry
        for i, (event, frame_id) in enumerate(zip(parsed.aligned, frames.id, strict=True)):
            if event is None:
                resume = frame_id  # nothing to handle: skipped is done
                continue
            if frame_id is not None and i not in carried:
                if self._duplicate(frame_id):
                    dups += 1
                    if self._fresh:
                        self._fresh = False
                        self.replays += 1
                    continue
                self._remember(frame_id)
            self._fresh = False
            kept.append(event)
            marks.append(resume)
            dups_before.append(dups)
            resume = frame_id
            if event.terminal:
                stop = True
                break
        return Batch(
            kept,
            entry,
            resume,
            frames.id,
            parsed.present,
            marks=marks,
            dups_before=dups_before,
            duplicates=dups,
            stop=stop,
        )

    def _duplicate(self, frame_id: str) -> bool:
        if self._guard is not None:
            number = _integer(frame_id)
            if number is not None and number <= self._guard:
                return True
            self._guard = None  # the first new id: the replay (if any) is over
        return frame_id in self._ids


def truncate(frames: Frames, end: int) -> Frames:
    """The first ``end`` frames of ``frames``."""
    return Frames(
        frames.type[:end],
        frames.data[:end],
        frames.id[:end],
        [i for i in frames.carried if i < end],
        {i: r for i, r in frames.retry.items() if i < end},
    )


def split_at_end(frames: Frames, name: str) -> tuple[Frames, bool]:
    """``frames`` before the first frame of type ``name``, and whether there was one."""
    types: Sequence[str] = frames.type
    if name not in types:
        return frames, False
    return truncate(frames, frames.type.index(name)), True
