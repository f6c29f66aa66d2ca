"""``median_pruner(...)``: prune runs worse than the median of completed runs at the same step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from arkor_rx.operators._percentile_pruner import PercentilePruner

__all__ = ["MedianPruner"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MedianPruner(PercentilePruner):
    """Prune a run whose best ``monitor`` so far is worse than the median of the
    completed runs' values at its latest step (Optuna's ``MedianPruner``; see
    `arkor_rx.pruning` for the exact rules).

    The percentile pruner at the 50th percentile, as Optuna's ``MedianPruner``
    is its ``PercentilePruner(50.0)``; only its rule name differs.

    Called on a sweep's merged stream of [`RunEvent`][arkor_rx.runs.RunEvent]
    values, it emits one [`PruneDecision`][arkor_rx.runs.PruneDecision] per pruned run.
    """

    percentile: float = 50.0

    rule: ClassVar[str] = "prune.median"
