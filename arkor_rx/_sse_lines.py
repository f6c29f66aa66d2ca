"""A ``text/event-stream`` body's bytes cut into complete lines (Rules 1-3 of `arkor_rx.sse`).

`LineSplitter` decodes UTF-8 incrementally,
drops the one leading BOM, turns CRLF and lone CR into LF (a CRLF split across
chunks included) and keeps the pending line until its line end arrives, within
the line limit of Rule 8. What it returns is for the decoder to interpret.
"""

from __future__ import annotations

import codecs
from typing import Final

from arkor_rx.errors import SSELimitError

__all__ = ["LineSplitter"]

_BOM: Final = "\ufeff"


class LineSplitter:
    """Byte chunks in, complete lines out (LF line ends); one splitter reads one stream."""

    def __init__(self, max_line_size: int) -> None:
        self._max_line_size = max_line_size
        self._decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode
        self._bom_pending = True  # nothing decoded yet: a leading U+FEFF is still to drop
        self._cr_pending = False  # the last text ended with CR: an LF right after it is no line
        self._partial: list[str] = []  # the pending line (no line end yet), in pieces
        self._partial_size = 0

    def feed(self, chunk: bytes) -> str | None:
        """The lines ``chunk`` completes, as one text with LF line ends ending with one.

        None when it completes no line; the rest is kept for the next call.

        Raises:
            SSELimitError: a line, or the pending line, is longer than ``max_line_size``.
        """
        text = self._decode(chunk)
        if not text:
            # Nothing decoded yet (for instance half a multi-byte character):
            # the codec keeps those bytes, and the BOM and CR flags stay as they are.
            return None
        if self._bom_pending:
            self._bom_pending = False
            if text[0] == _BOM:
                text = text[1:]
        if self._cr_pending:
            self._cr_pending = False
            if text[:1] == "\n":
                text = text[1:]  # the LF of a CRLF split across chunks
        if "\r" in text:
            # The text decided so far never ends inside a CRLF: a CR at its very end
            # ends a line now, and an LF at the start of the next text is then skipped.
            self._cr_pending = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")

        end = text.rfind("\n")
        if end < 0:
            # No line end: the whole text is part of the pending line.
            if text:
                size = self._partial_size + len(text)
                if size > self._max_line_size:
                    raise self._too_long(size, pending=True)
                self._partial.append(text)
                self._partial_size = size
            return None
        if self._partial:
            self._partial.append(text)
            text = "".join(self._partial)
            end += self._partial_size
            self._partial = []
            self._partial_size = 0
        size = len(text)
        max_line = self._max_line_size
        if size - end - 1 > max_line:
            raise self._too_long(size - end - 1, pending=True)
        if end > max_line:
            # Only a text longer than the limit can hold a line over it.
            longest = max(map(len, text[:end].split("\n")))
            if longest > max_line:
                raise self._too_long(longest, pending=False)
        if end + 1 < size:
            self._partial.append(text[end + 1 :])
            self._partial_size = size - end - 1
        return text[: end + 1]

    def close(self) -> None:
        """Drop the pending line and the bytes of an unfinished UTF-8 character (Rule 7)."""
        self._decode(b"", True)
        self._partial = []
        self._partial_size = 0

    def _too_long(self, size: int, *, pending: bool) -> SSELimitError:
        what = "a pending line (no line end yet) has reached" if pending else "a line has"
        return SSELimitError(
            f"SSE line too long: {what} {size} characters, over the decoder's "
            f"max_line_size of {self._max_line_size} characters "
            f"(configurable: SSEDecoder(max_line_size=...))"
        )
