"""``percentile_pruner(...)``: prune runs worse than a percentile of the completed runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from arkor_rx.errors import ConfigError
from arkor_rx.operators._common import (
    Mode,
    check_finite,
    check_int,
    check_mode,
    check_monitor,
)
from arkor_rx.operators._pruner import PrunerConfig
from arkor_rx.pruning import PercentilePruning

__all__ = ["PercentilePruner", "check_percentile_gates"]


def check_percentile_gates(
    n_startup_runs: int, n_warmup_steps: int, interval_steps: int, n_min_runs: int
) -> None:
    """Validate the gates the median and percentile pruners share."""
    check_int("n_startup_runs", n_startup_runs, 0)
    check_int("n_warmup_steps", n_warmup_steps, 0)
    check_int("interval_steps", interval_steps, 1)
    check_int("n_min_runs", n_min_runs, 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class PercentilePruner(PrunerConfig):
    """Prune a run whose best ``monitor`` so far is worse than the ``percentile``-th
    percentile of the completed runs' values at its latest step (Optuna's
    ``PercentilePruner``; see `arkor_rx.pruning` for the exact rules).

    Called on a sweep's merged stream of [`RunEvent`][arkor_rx.runs.RunEvent]
    values, it emits one [`PruneDecision`][arkor_rx.runs.PruneDecision] per pruned run.
    """

    percentile: float
    monitor: str = "eval_loss"
    mode: Mode = "min"
    n_startup_runs: int = 5
    n_warmup_steps: int = 0
    interval_steps: int = 1
    n_min_runs: int = 1
    rule: ClassVar[str] = "prune.percentile"

    def __post_init__(self) -> None:
        number = check_finite("percentile", self.percentile)
        if not 0 <= number <= 100:
            raise ConfigError(f"percentile must be in [0, 100], got {self.percentile!r}")
        check_monitor(self.monitor)
        check_mode(self.mode)
        check_percentile_gates(
            self.n_startup_runs, self.n_warmup_steps, self.interval_steps, self.n_min_runs
        )

    def decision(self) -> PercentilePruning:
        """A new percentile decision with no runs seen."""
        return PercentilePruning(
            self.monitor,
            self.mode,
            q=self.percentile,
            n_startup=self.n_startup_runs,
            warmup=self.n_warmup_steps,
            interval=self.interval_steps,
            n_min=self.n_min_runs,
            rule=self.rule,
        )
