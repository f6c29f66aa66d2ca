"""What every cross-run pruner config shares: called on a sweep's merged stream, it runs a
fresh decision (a ``CrossRunPruner`` of `arkor_rx.pruning`) per subscription."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from reactivex import Observable

from arkor_rx.operators._common import stateful
from arkor_rx.pruning import CrossRunPruner
from arkor_rx.runs import PruneDecision, RunEvent

__all__ = ["PrunerConfig"]


class PrunerConfig(ABC):
    """A pruner's frozen config (each subclass is a frozen dataclass) that is a
    ``Callable[[Observable[RunEvent]], Observable[PruneDecision]]``."""

    __slots__ = ()

    rule: ClassVar[str]
    """The ``StopDecision.rule`` of the decisions."""

    @abstractmethod
    def decision(self) -> CrossRunPruner:
        """A new decision with no runs seen: each subscription gets its own."""

    def __call__(self, source: Observable[RunEvent]) -> Observable[PruneDecision]:
        return source.pipe(stateful(lambda: self.decision().observe))
