"""Keep the bearer token out of what a person can read: error messages, error bodies, logs.

Rule 1: redaction runs on *decoded* values, where a token could be shown: the
message of an error, the body an error keeps, a log argument. It never
rewrites a successful payload: a job whose ``orgId`` happens to equal the
token comes back intact.

Rule 2: the secret is matched however JSON could have spelt it, so text that
still holds escapes (a body that did not parse, a string with an escaped
escape inside it) is covered too: each character literally or as ``\\uXXXX``
(hex digits in either case; a surrogate pair past U+FFFF), and ``"``, ``\\``,
``/`` and the control characters also by their short escapes (``\\"``,
``\\\\``, ``\\/``, ``\\n`` ...). Short tokens and common words are matched as
well: in an error message, ``***`` in place of a word is the lesser harm.
"""

from __future__ import annotations

import re
from typing import Any, Final, TypeVar, cast

__all__ = ["MASK", "Redactor", "hidden", "hide"]

_V = TypeVar("_V")

MASK: Final = "***"
"""What a redacted secret reads as."""

_SHORT_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _hex4(code: int) -> str:
    """A pattern for ``\\u`` plus the four hex digits of ``code``, in any case."""
    digits = "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in f"{code:04x}")
    return r"\\u" + digits


def _spellings(ch: str) -> str:
    """A pattern for every way a JSON string can spell the character ``ch``."""
    options = [re.escape(ch)]
    if ch in _SHORT_ESCAPES:
        options.append(re.escape(_SHORT_ESCAPES[ch]))
    code = ord(ch)
    if code < 0x10000:
        options.append(_hex4(code))
    else:
        high, low = divmod(code - 0x10000, 0x400)
        options.append(_hex4(0xD800 + high) + _hex4(0xDC00 + low))
    return "(?:" + "|".join(options) + ")"


class Redactor:
    """Replaces one secret (or several) with ``***`` in text and in decoded JSON values.

    Examples:
        >>> r = Redactor("tok/SECRET")
        >>> r.text("bad token tok/SECRET")
        'bad token ***'
        >>> r.text(r"bad token tok\\/SECRET, \\u0074ok/SECRET")
        'bad token ***, ***'
        >>> r.value({"error": ["tok/SECRET"], "tok/SECRET": 1})
        {'error': ['***'], '***': 1}
        >>> r
        Redactor(***)

    Args:
        secret: the non-empty string to hide.
        *more: more secrets to hide the same way.
    """

    __slots__ = ("_pattern",)

    def __init__(self, secret: str, *more: str) -> None:
        secrets = sorted({secret, *more}, key=len, reverse=True)  # the longest spelling first
        if not all(secrets):
            raise ValueError("Redactor needs non-empty secrets")
        self._pattern = re.compile(
            "|".join("".join(_spellings(ch) for ch in each) for each in secrets)
        )

    def text(self, value: str) -> str:
        """``value`` with every spelling of the secret replaced by ``***``."""
        return self._pattern.sub(MASK, value)

    def found(self, value: str) -> bool:
        """Whether ``value`` holds the secret, however spelt."""
        return self._pattern.search(value) is not None

    def value(self, obj: _V) -> _V:
        """A copy of a decoded JSON value with the secret masked in every string and key."""
        masked: Any = obj
        if isinstance(obj, str):
            masked = self.text(obj)
        elif isinstance(obj, dict):
            masked = {
                (self.text(k) if isinstance(k, str) else k): self.value(v) for k, v in obj.items()
            }
        elif isinstance(obj, list):
            masked = [self.value(v) for v in obj]
        return cast("_V", masked)

    def __repr__(self) -> str:
        return f"Redactor({MASK})"


HIDE_MIN = 8
"""Secrets shorter than this are not hidden from sinks: a string that short matches
ordinary words and field names (a test's token ``"t"`` would rewrite every ``type``),
and no real bearer token, key or password is that short."""

_HIDDEN: set[str] = set()
_hidden: Redactor | None = None


def hide(secret: str) -> None:
    """Hide ``secret`` from everything this process hands to a sink from now on.

    The client calls it with its bearer token, a deployment key's plaintext is
    hidden when it is issued, and a sink with its tracking URI's password: the
    sink layer redacts every hidden secret from the runs, events, outcomes and
    error messages it passes on, whatever a server echoed back. A secret
    shorter than ``HIDE_MIN`` characters is ignored.
    """
    global _hidden
    if len(secret) >= HIDE_MIN and secret not in _HIDDEN:
        _HIDDEN.add(secret)
        _hidden = Redactor(*_HIDDEN)


def hidden() -> Redactor | None:
    """The redactor of every secret hidden so far, or None when there is none."""
    return _hidden
