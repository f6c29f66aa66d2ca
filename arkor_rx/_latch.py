"""``FirstOutcome``: the first-outcome-wins latch of early stopping.

Rule 1: the first of a value, an error, or an end settles the latch; every
later one is ignored and reported as such (its setter returns False), so the
caller acts on exactly one outcome. Both the Trainer (its stop rules) and
``aop.stop_when`` decide through one of these.

Rule 2: settling is thread-safe (a rule may decide on another thread); the
caller acts outside the lock.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

__all__ = ["FirstOutcome"]

_T = TypeVar("_T")


class FirstOutcome(Generic[_T]):
    """One outcome: a value, an error, or an end with neither; the first one wins.

    Examples:
        >>> latch: FirstOutcome[str] = FirstOutcome()
        >>> latch.set_value("stop"), latch.set_error(ValueError()), latch.end()
        (True, False, False)
        >>> latch.done, latch.value, latch.error
        (True, 'stop', None)
    """

    __slots__ = ("_lock", "done", "error", "value")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.done = False
        """True once any outcome (value, error or end) arrived."""
        self.value: _T | None = None
        """The winning value, if a value won."""
        self.error: Exception | None = None
        """The winning error, if an error won."""

    def set_value(self, value: _T) -> bool:
        """Settle with ``value``; True when this call won."""
        with self._lock:
            if self.done:
                return False
            self.done, self.value = True, value
            return True

    def set_error(self, error: Exception) -> bool:
        """Settle with ``error``; True when this call won."""
        with self._lock:
            if self.done:
                return False
            self.done, self.error = True, error
            return True

    def end(self) -> bool:
        """Settle with nothing (what came later is moot); True when this call won."""
        with self._lock:
            if self.done:
                return False
            self.done = True
            return True
