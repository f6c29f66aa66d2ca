"""``successive_halving(...)``: asynchronous successive halving over a sweep's runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from arkor_rx.errors import ConfigError
from arkor_rx.operators._common import Mode, check_int, check_mode, check_monitor
from arkor_rx.operators._pruner import PrunerConfig
from arkor_rx.pruning import SuccessiveHalvingPruning

__all__ = ["SuccessiveHalving"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SuccessiveHalving(PrunerConfig):
    """Keep the top ``1 / reduction_factor`` of the runs at each rung, prune the rest
    (Optuna's ``SuccessiveHalvingPruner``; see `arkor_rx.pruning` for the
    exact rules).

    Called on a sweep's merged stream of [`RunEvent`][arkor_rx.runs.RunEvent]
    values, it emits one [`PruneDecision`][arkor_rx.runs.PruneDecision] per pruned run.
    """

    monitor: str = "eval_loss"
    mode: Mode = "min"
    min_resource: int | Literal["auto"]
    reduction_factor: int = 4
    min_early_stopping_rate: int = 0
    rule: ClassVar[str] = "prune.successive_halving"

    def __post_init__(self) -> None:
        check_monitor(self.monitor)
        check_mode(self.mode)
        if self.min_resource != "auto":
            if isinstance(self.min_resource, str):
                raise ConfigError(
                    f"min_resource must be an int >= 1 or 'auto', got {self.min_resource!r}"
                )
            check_int("min_resource", self.min_resource, 1)
        check_int("reduction_factor", self.reduction_factor, 2)
        check_int("min_early_stopping_rate", self.min_early_stopping_rate, 0)

    def decision(self) -> SuccessiveHalvingPruning:
        """A new successive-halving decision with no runs seen."""
        return SuccessiveHalvingPruning(
            self.monitor,
            self.mode,
            min_resource=None if self.min_resource == "auto" else self.min_resource,
            reduction_factor=self.reduction_factor,
            min_early_stopping_rate=self.min_early_stopping_rate,
        )
