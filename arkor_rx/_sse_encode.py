"""Writing Server-Sent Events: [`encode`][arkor_rx.sse.encode] and
[`encode_comment`][arkor_rx.sse.encode_comment].

Part of [`arkor_rx.sse`][arkor_rx.sse] (import them from there). The frames they write
decode back unchanged; the local server uses them.
"""

from __future__ import annotations

__all__ = ["encode", "encode_comment"]


def _check_field(name: str, value: str) -> None:
    for ch in ("\r", "\n", "\0"):
        if ch in value:
            raise ValueError(f"SSE {name} must not contain {ch!r}: {value!r}")


def encode(
    data: str,
    *,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
) -> bytes:
    """Encode one event as a complete frame, UTF-8, ending with its empty line.

    Fields come in the order ``id``, ``event``, ``retry``, ``data``. Data with
    line ends (LF, CRLF or lone CR) becomes several ``data:`` lines, which the
    decoder joins back with LF: ``encode("a\\r\\nb")`` decodes as ``"a\\nb"``.
    Empty data is sent as one ``data:`` line, so the event is still dispatched
    (with ``data == ""``). A leading space in a value survives: a space always
    follows the colon, and the decoder strips only that one.

    ``event=None`` (or ``"message"``) decodes as ``"message"``; ``event=""``
    also decodes as ``"message"``, so it is written as nothing. ``id=""`` is
    written, and resets the decoder's last event ID. A leading U+FEFF in the
    data is harmless: it never starts the stream.

    Example::

        >>> encode("hi", event="ping", id="7")
        b'id: 7\\nevent: ping\\ndata: hi\\n\\n'

    Raises:
        ValueError: ``event`` or ``id`` contains CR, LF or NUL (they would break
            the frame, and the decoder ignores an ``id`` with NUL), or ``retry``
            is negative.
    """
    parts: list[str] = []
    if id is not None:
        _check_field("id", id)
        parts.append(f"id: {id}\n")
    if event:
        _check_field("event", event)
        parts.append(f"event: {event}\n")
    if retry is not None:
        if retry < 0:
            raise ValueError(f"SSE retry must be a non-negative number of ms, got {retry}")
        parts.append(f"retry: {retry}\n")
    if "\r" in data:
        data = data.replace("\r\n", "\n").replace("\r", "\n")
    parts.append("data: ")
    parts.append(data.replace("\n", "\ndata: "))
    parts.append("\n\n")
    return "".join(parts).encode("utf-8")


def encode_comment(text: str = "") -> bytes:
    """Encode a comment frame, such as a keepalive: ``b": text\\n\\n"``.

    The decoder ignores it entirely (it dispatches nothing and changes no
    state), but the bytes keep an idle connection from timing out. Text with
    line ends becomes several comment lines. ``encode_comment()`` gives
    ``b":\\n\\n"``.

    Example::

        >>> encode_comment("keepalive")
        b': keepalive\\n\\n'
    """
    if not text:
        return b":\n\n"
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return (": " + text.replace("\n", "\n: ") + "\n\n").encode("utf-8")
