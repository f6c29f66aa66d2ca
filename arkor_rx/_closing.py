"""``async with obj:`` for the objects that hold a connection: the block closes them.

Rule 1: `AsyncClosing` gives a class ``__aenter__`` (the object itself) and
``__aexit__`` (its own ``aclose()``, whatever ended the block); the class
defines ``aclose``.
"""

from __future__ import annotations

from typing import Self

__all__ = ["AsyncClosing"]


class AsyncClosing:
    """A base whose ``async with`` block ends with ``await self.aclose()``."""

    __slots__ = ()

    async def aclose(self) -> None:
        """Release what the object holds (each class says what)."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
