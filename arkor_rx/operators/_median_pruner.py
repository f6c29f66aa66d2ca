"""``median_pruner(...)``: prune runs worse than the median of completed runs at the same step."""

from __future__ import annotations

from dataclasses import dataclass

from reactivex import Observable

from arkor_rx.operators._common import Mode, check_mode, check_monitor, stateful
from arkor_rx.operators._percentile_pruner import check_percentile_gates
from arkor_rx.pruning import PercentilePruning
from arkor_rx.runs import PruneDecision, RunEvent

__all__ = ["MedianPruner"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MedianPruner:
    """Prune a run whose best ``monitor`` so far is worse than the median of the
    completed runs' values at its latest step (Optuna's ``MedianPruner``; see
    `arkor_rx.pruning` for the exact rules).

    Called on a sweep's merged stream of [`RunEvent`][arkor_rx.runs.RunEvent]
    values, it emits one [`PruneDecision`][arkor_rx.runs.PruneDecision] per pruned run.
    """

    monitor: str = "eval_loss"
    mode: Mode = "min"
    n_startup_runs: int = 5
    n_warmup_steps: int = 0
    interval_steps: int = 1
    n_min_runs: int = 1

    def __post_init__(self) -> None:
        check_monitor(self.monitor)
        check_mode(self.mode)
        check_percentile_gates(
            self.n_startup_runs, self.n_warmup_steps, self.interval_steps, self.n_min_runs
        )

    @property
    def rule(self) -> str:
        """The ``StopDecision.rule`` of the decisions."""
        return "prune.median"

    def __call__(self, source: Observable[RunEvent]) -> Observable[PruneDecision]:
        def make() -> PercentilePruning:
            return PercentilePruning(
                self.monitor,
                self.mode,
                q=50.0,
                n_startup=self.n_startup_runs,
                warmup=self.n_warmup_steps,
                interval=self.interval_steps,
                n_min=self.n_min_runs,
                rule=self.rule,
            )

        return source.pipe(stateful(lambda: make().observe))
