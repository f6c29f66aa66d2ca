"""Server-Sent Events, sans-IO: an incremental decoder and a small encoder.

[`SSEDecoder`][arkor_rx.sse.SSEDecoder] turns the bytes of a ``text/event-stream`` body into
[`ServerSentEvent`][arkor_rx.sse.ServerSentEvent] objects. It does no I/O, reads no clock and knows
no
socket: the caller feeds it whatever byte chunks arrive, in order, and gets the
complete events back. It follows the WHATWG HTML "Server-sent events" rules for
interpreting an event stream, to the letter:

Rule 1 (decoding). The stream is UTF-8. Bytes that are not valid UTF-8 become
U+FFFD, and decoding is incremental, so a character whose bytes are split across
chunks decodes exactly as if it had arrived whole.

Rule 2 (BOM). One U+FEFF at the very start of the stream is dropped, even when
its three bytes arrive in different chunks. Only that one: a second BOM, or a
BOM anywhere later, is ordinary text.

Rule 3 (line ends). A line ends at LF, at CRLF or at a lone CR, and nowhere
else: U+0085, U+2028, U+2029, VT, FF and the other characters that
``str.splitlines`` treats as breaks are ordinary text. A CR at the end of one
chunk and an LF at the start of the next are one line end (CRLF), not two.

Rule 4 (lines). An empty line dispatches the event (Rule 6). A line starting
with ``:`` is a comment and is ignored. Any other line is a field: the name is
everything before the first ``:`` and the value everything after it, less one
single leading space if there is one (``data:  x`` has the value `` x``). A line
with no ``:`` is a field name with an empty value (``data`` is ``data:``).

Rule 5 (fields). ``event`` sets the event type buffer. ``data`` appends the
value and an LF to the data buffer. ``id`` sets the last event ID buffer, unless
the value contains U+0000, in which case the whole field is ignored; an empty
``id`` resets the buffer to ``''``. ``retry`` sets the reconnection time (in
milliseconds) when the value is one or more ASCII digits, and is ignored
otherwise (``retry: -1``, ``retry: 1a``, ``retry:`` are ignored; ``retry: 0`` is
valid). Any other field name is ignored.

Rule 6 (dispatch). At an empty line, the last event ID becomes the value of the
ID buffer. Then, if the data buffer is empty, the data and event type buffers
are reset and nothing is dispatched: a block with an ``id`` but no ``data``
only moves [`SSEDecoder.last_event_id`][arkor_rx.sse.SSEDecoder.last_event_id]; a block with only
``event`` is
dropped. Otherwise one LF is removed from the end of the data, the type is the
event type buffer or ``"message"`` when it is empty, the event is dispatched,
and the data and event type buffers are reset. The ID buffer is *not* reset:
it persists and stamps every later event until another ``id`` field changes it.

Rule 7 (end of stream). When the stream ends, whatever has not been dispatched
is discarded: an event without its final empty line is never dispatched, and
neither is a last line without a line end (see [`SSEDecoder.close`][arkor_rx.sse.SSEDecoder.close]).

Rule 8 (limits). The decoder holds at most one pending line and one event's
data. A line longer than ``max_line_size`` or an event whose data grows past
``max_event_size`` raises [`SSELimitError`][arkor_rx.errors.SSELimitError] as soon as it
is seen, before the rest of it is buffered, so a peer that never sends a line
end cannot make the decoder hold unbounded memory.

Rule 9 (chunking). Any split of the same bytes into chunks yields exactly the
same events, the same [`SSEDecoder.last_event_id`][arkor_rx.sse.SSEDecoder.last_event_id] and the
same
[`SSEDecoder.retry`][arkor_rx.sse.SSEDecoder.retry].

[`encode`][arkor_rx.sse.encode] and [`encode_comment`][arkor_rx.sse.encode_comment] write frames
that the decoder reads
back unchanged; the local server uses them.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from contextlib import suppress
from itertools import compress
from typing import Final

from arkor_rx._sse_encode import encode, encode_comment
from arkor_rx._sse_frames import Frames, ServerSentEvent
from arkor_rx._sse_lines import LineSplitter
from arkor_rx.errors import ConfigError, SSEError, SSELimitError

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "DEFAULT_MAX_LINE_SIZE",
    "Frames",
    "SSEDecoder",
    "ServerSentEvent",
    "encode",
    "encode_comment",
]

DEFAULT_MAX_LINE_SIZE: Final = 1 << 20
"""Default [`SSEDecoder`][arkor_rx.sse.SSEDecoder] limit on one line, in characters (1 MiB of
ASCII)."""

DEFAULT_MAX_EVENT_SIZE: Final = 16 << 20
"""Default [`SSEDecoder`][arkor_rx.sse.SSEDecoder] limit on one event's data, in characters (16 MiB
of ASCII)."""


# The common frame, the whole of it: a non-empty "id" without NUL, a non-empty
# "event", one "data" line and the empty line, each field spelled exactly so, at a
# line start. Groups: id, event, data. re.split() cuts a text into
# [before, id, event, data, before, id, event, data, ..., after], so that the
# frames can be decoded in bulk and only the text between them (pings, comments,
# retry, multi-line data, other spellings and orders) line by line.
_FRAME: Final = re.compile(r"^id: ([^\n\0]+)\nevent: (.+)\ndata: (.*)\n\n", re.MULTILINE)

_consume: Final[Callable[[Iterable[object]], None]] = deque[object](maxlen=0).extend

_NO_FRAMES: Final = Frames([], [], [], [], {})
"""What [`SSEDecoder.feed_frames`][arkor_rx.sse.SSEDecoder.feed_frames] returns for a chunk that
completes no frame.
Shared, so never mutate a [`Frames`][arkor_rx.sse.Frames] you were given."""


class SSEDecoder:
    """An incremental, sans-IO ``text/event-stream`` decoder (WHATWG rules, see module).

    Feed it the body's bytes as they arrive; it returns each event once its
    final empty line has arrived. One decoder reads one stream: make a new one
    for each connection, and carry [`last_event_id`][arkor_rx.sse.SSEDecoder.last_event_id] over
    yourself.

    Example::

        >>> dec = SSEDecoder()
        >>> dec.feed(b"id: 7\\nevent: training.log\\ndata: {\\"step\\"")
        []
        >>> dec.feed(b": 70}\\n\\n")
        [ServerSentEvent(event='training.log', data='{"step": 70}', id='7', retry=None)]
        >>> dec.last_event_id
        '7'
        >>> dec.close()
        []

    Args:
        max_line_size: the longest line accepted, in characters (after UTF-8
            decoding, so up to four times as many bytes), line end excluded.
        max_event_size: the most data one event may carry, in characters.

    Both limits are there so that a broken or hostile peer cannot make the
    decoder buffer without bound; passing either raises
    [`SSELimitError`][arkor_rx.errors.SSELimitError]. Raise them for streams with
    genuinely larger events.

    Raises:
        ConfigError: a limit below 1.
    """

    __slots__ = (
        "_block_own",
        "_block_retry",
        "_closed",
        "_data",
        "_event_type",
        "_id_buffer",
        "_last_event_id",
        "_max_event_size",
        "_retry",
        "_split",
        "_splitter",
    )

    def __init__(
        self,
        *,
        max_line_size: int = DEFAULT_MAX_LINE_SIZE,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    ) -> None:
        if max_line_size < 1:
            raise ConfigError(f"max_line_size must be at least 1, got {max_line_size}")
        if max_event_size < 1:
            raise ConfigError(f"max_event_size must be at least 1, got {max_event_size}")
        self._max_event_size = max_event_size
        self._splitter = LineSplitter(max_line_size)  # Rules 1 to 3, and the line limit
        self._split = self._splitter.feed
        self._data: list[str] = []  # the data buffer, as its lines (without their LFs)
        self._event_type = ""
        self._id_buffer = ""
        self._last_event_id = ""
        self._block_retry: int | None = None
        self._block_own = False  # the pending block has an id field of its own
        self._retry: int | None = None
        self._closed = False

    @property
    def last_event_id(self) -> str:
        """The last event ID, ``''`` when there is none (never ``None``).

        It is the value of the ID buffer as of the last empty line (Rule 6), so
        it moves at the end of each block, including a block with an ``id`` and
        no ``data``, which dispatches nothing. An ``id`` field whose block has
        not ended yet does not count: if the stream breaks before that block's
        empty line, the event was never received, and resuming with
        ``Last-Event-ID`` set to its id would lose it. An empty ``id`` field
        resets it to ``''``; one containing U+0000 is ignored.
        """
        return self._last_event_id

    @property
    def retry(self) -> int | None:
        """Milliseconds from the last valid ``retry`` field seen so far, or ``None``.

        Unlike events, it changes as soon as the field's line is read, even in a
        block that is never dispatched. Invalid values (anything but ASCII
        digits, or more digits than Python will convert) leave it unchanged.
        """
        return self._retry

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode the next bytes of the stream; return the events they complete.

        ``chunk`` may be cut anywhere: in a line, between the CR and LF of a
        CRLF, in a multi-byte character, in the leading BOM. What is not yet
        complete is kept for the next call. An empty chunk is allowed and
        returns ``[]``.

        Raises:
            SSELimitError: a line is longer than ``max_line_size``, or an event's
                data grows past ``max_event_size``. It is raised as soon as the
                pending line or data is over the limit, and none of the events
                in this chunk are returned. The stream cannot be decoded
                further: drop the decoder (and the connection).
            SSEError: the decoder was already closed.
        """
        frames = self._feed(chunk)
        return [] if frames is None else frames.events()

    def feed_frames(self, chunk: bytes) -> Frames:
        """Like [`feed`][arkor_rx.sse.SSEDecoder.feed], but the frames come as
        [`Frames`][arkor_rx.sse.Frames] columns.

        The same frames, in the same order, with the same values and the same
        errors as [`feed`][arkor_rx.sse.SSEDecoder.feed], without building one object per frame: for
        a
        consumer that handles a chunk's frames together (the event stream).
        """
        frames = self._feed(chunk)
        return _NO_FRAMES if frames is None else frames

    def _feed(self, chunk: bytes) -> Frames | None:
        if self._closed:
            raise SSEError("SSEDecoder.feed() called after close()")
        text = self._split(chunk)
        return None if text is None else self._process(text)

    def close(self) -> list[ServerSentEvent]:
        """Mark the end of the stream; discard whatever is incomplete (Rule 7).

        An event whose final empty line never came is not dispatched, nor is a
        last line without a line end; a CR already ended its line when it
        arrived, so ``data: x\\n\\r`` was dispatched by [`feed`][arkor_rx.sse.SSEDecoder.feed].
        Bytes of
        an unfinished UTF-8 character are dropped too. The ID buffer set by an
        unfinished block does not reach [`last_event_id`][arkor_rx.sse.SSEDecoder.last_event_id].

        Returns ``[]`` (the list is kept so that ``feed``/``close`` read alike at
        call sites). Calling it again is harmless; [`feed`][arkor_rx.sse.SSEDecoder.feed] after it
        raises
        [`SSEError`][arkor_rx.errors.SSEError].
        """
        if not self._closed:
            self._closed = True
            self._splitter.close()
            self._data = []
            self._event_type = ""
            self._block_retry = None
            self._block_own = False
            self._id_buffer = self._last_event_id
        return []

    def _process(self, text: str) -> Frames:
        """Interpret complete lines (Rules 4 to 6). ``text`` has LF line ends and ends with one.

        The hot path: common frames (see `_FRAME`) are cut out by one
        ``re.split`` and taken as whole columns (slices of the split); the
        text between them, if any, goes through ``_lines`` one line at a time,
        and a frame that continues a block those lines began is merged into
        that block. Both ways give the same frames.
        """
        out = Frames([], [], [], [], {})
        parts = _FRAME.split(text)
        if len(parts) == 1:
            self._lines(text, out)
            return out
        ids = parts[1::4]
        types = parts[2::4]
        datas = parts[3::4]
        if len(text) > self._max_event_size:
            # Only a text longer than the limit can hold a frame's data over it.
            longest = max(map(len, datas))
            if longest > self._max_event_size:
                raise self._event_too_big(longest)
        out_type, out_data, out_id = out.type, out.data, out.id
        # parts[4 * j] is the text before frame j; parts[-1] the text after the last.
        if parts[0]:
            self._lines(parts[0], out)
        if self._data or self._event_type or self._block_retry is not None:
            datas[0] = self._merge(ids[0], datas[0], out)
        start = 0
        for j in compress(range(1, len(ids) + 1), parts[4::4]):
            out_type += types[start:j]
            out_data += datas[start:j]
            out_id += ids[start:j]
            start = j
            self._id_buffer = self._last_event_id = ids[j - 1]
            self._block_own = False
            self._lines(parts[4 * j], out)
            if j < len(ids) and (self._data or self._event_type or self._block_retry is not None):
                datas[j] = self._merge(ids[j], datas[j], out)
        if start < len(ids):
            out_type += types[start:]
            out_data += datas[start:]
            out_id += ids[start:]
            self._id_buffer = self._last_event_id = ids[-1]
            self._block_own = False
        return out

    def _merge(self, frame_id: str, data: str, out: Frames) -> str:
        """Finish the pending block with the lines of a `_FRAME` match; its data.

        The frame will be the next one appended to ``out``: its ``retry`` is recorded
        at that index.
        """
        self._data.append(data)
        value = "\n".join(self._data)
        if len(value) > self._max_event_size:
            raise self._event_too_big(len(value))
        if self._block_retry is not None:
            out.retry[len(out.type)] = self._block_retry
        self._id_buffer = self._last_event_id = frame_id
        self._data = []
        self._event_type = ""
        self._block_retry = None
        self._block_own = False
        return value

    def _lines(self, text: str, out: Frames) -> None:
        """Interpret complete lines one at a time, by the book (Rules 4 to 6), into ``out``.

        ``text`` has LF line ends and ends with one.
        """
        lines = text.split("\n")
        lines.pop()
        data = self._data
        event_type = self._event_type
        id_buffer = self._id_buffer
        last_event_id = self._last_event_id
        block_retry = self._block_retry
        block_own = self._block_own
        max_event = self._max_event_size
        for line in lines:
            if not line:
                last_event_id = id_buffer
                if data:
                    value = data[0] if len(data) == 1 else "\n".join(data)
                    data = []
                    if len(value) > max_event:
                        raise self._event_too_big(len(value))
                    index = len(out.type)
                    out.type.append(event_type or "message")
                    out.data.append(value)
                    out.id.append(id_buffer or None)
                    if not block_own:
                        out.carried.append(index)
                    if block_retry is not None:
                        out.retry[index] = block_retry
                event_type = ""
                block_retry = None
                block_own = False
                continue
            if line[0] == ":":
                continue  # a comment (the stream's pings): ignored, with no call
            name, value = _field(line)
            if name == "data":
                data.append(value)
            elif name == "event":
                event_type = value
            elif name == "id":
                if "\0" not in value:
                    id_buffer = value
                    block_own = True
            elif name == "retry" and value.isdigit() and value.isascii():
                # Past Python's int-from-str digit limit, int() raises: no real
                # reconnection time has thousands of digits, so the field is ignored.
                with suppress(ValueError):
                    block_retry = self._retry = int(value)
            # Any other field is ignored.
        if data:
            size = sum(map(len, data)) + len(data) - 1
            if size > max_event:
                raise self._event_too_big(size)
        self._data = data
        self._event_type = event_type
        self._id_buffer = id_buffer
        self._last_event_id = last_event_id
        self._block_retry = block_retry
        self._block_own = block_own

    def _event_too_big(self, size: int) -> SSELimitError:
        return SSELimitError(
            f"SSE event too big: its data has reached {size} characters, over the decoder's "
            f"max_event_size of {self._max_event_size} characters "
            f"(configurable: SSEDecoder(max_event_size=...))"
        )


def _field(line: str) -> tuple[str, str]:
    """A field line's name and value (Rule 4): ``data: x`` is ``("data", "x")``."""
    # Most lines are "name: value": one partition finds both. A name that
    # holds a colon means that the first colon had no space after it.
    name, sep, value = line.partition(": ")
    if not sep or ":" in name:
        name, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
    return name, value
