"""Picking the present values out of a chunk's parallel columns (one entry per frame).

A chunk's frames are parsed as columns (see `arkor_rx.events.parse_batch`): the
events, with None for keepalives and bad frames, beside their ids. These
helpers cut the Nones' places out of such columns, in a way that is cheap for
the usual chunk (no gaps, or a few).
"""

from __future__ import annotations

from itertools import compress
from typing import Any, TypeVar

__all__ = ["pick", "picked"]

_V = TypeVar("_V")


def pick(
    aligned: list[Any], present: list[bool], frame_ids: list[_V]
) -> tuple[list[Any], list[_V]]:
    """The values of ``aligned`` and their ids: copies with the few gaps (keepalives) cut out.

    ``present`` flags the entries of ``aligned`` that are not None. With no
    gap, the columns themselves are returned (not copies).
    """
    gaps = len(present) - sum(present)
    if not gaps:
        return aligned, frame_ids
    events: list[Any] = picked(aligned, present, gaps)  # the gaps are the Nones
    return events, picked(frame_ids, present, gaps)


def picked(column: list[_V], present: list[bool], gaps: int) -> list[_V]:
    """The values of ``column`` where ``present`` is True (``gaps`` of them are not).

    A few gaps (keepalives in a chunk): a copy with them deleted, which moves
    memory rather than testing every value; many: ``compress``.
    """
    if gaps * 8 > len(present):
        return list(compress(column, present))
    where: list[int] = []
    at = -1
    for _ in range(gaps):
        at = present.index(False, at + 1)
        where.append(at)
    kept = column.copy()
    for at in reversed(where):
        del kept[at]
    return kept
