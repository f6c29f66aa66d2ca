"""Strings from a server, made safe to show: data, never terminal control.

Rule 1: a job's name, an error, a sample's answer are written by whoever runs
the server. Shown raw, an ``ESC`` (or a C1 control such as the 8-bit CSI,
``\\x9b``) lets that server clear the screen, retitle the window or write the
clipboard (OSC 52). [`printable`][arkor_rx._printable.printable] turns every
such character into its visible escape (``\\x1b``), so the text still says what
was sent; the text renderers apply it where a server string enters them.

Rule 2: what is drawn is bounded: a 400,000-character name is cut to ``limit``
characters before anything measures or escapes it.

Rule 3: a message that echoes a value it refuses (a bad slug, an unknown id)
quotes it with [`quoted`][arkor_rx._printable.quoted]: its ``repr`` (which shows
every control as an escape), cut, so a megabyte of input is not sent back.
"""

from __future__ import annotations

__all__ = ["NAME_CHARS", "TEXT_CHARS", "printable", "quoted"]

NAME_CHARS = 120
"""The most characters of a job name (or id, or label) drawn."""

TEXT_CHARS = 2000
"""The most characters of an error or any other longer server text drawn."""

_CONTROLS = [*range(0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0)]
_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029]
_TABLE: dict[int, str] = {c: f"\\x{c:02x}" for c in _CONTROLS} | {c: f"\\u{c:04x}" for c in _BIDI}


def printable(text: str, limit: int = TEXT_CHARS) -> str:
    """``text`` without terminal control: every C0 control but tab and newline, DEL,
    every C1 control and the bidirectional overrides shown as escapes; at most
    ``limit`` characters of it (then ``…``).

    Examples:
        >>> printable("job\\x1b]52;c;aGk=\\x07 \\x9b2J")
        'job\\\\x1b]52;c;aGk=\\\\x07 \\\\x9b2J'
        >>> printable("a" * 10, limit=4)
        'aaa…'
    """
    if len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text.translate(_TABLE)


def quoted(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters: safe to echo input in a message.

    Examples:
        >>> quoted("job_1"), quoted("x" * 200, 10)
        ("'job_1'", "'xxxxxxxx…")
    """
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
