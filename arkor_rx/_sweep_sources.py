"""Where a sweep's runs come from: the `RunSource` interface, and the fixed list of a grid.

Rule 1: a source never sees the sweep. It is built with what it needs (a
[`RunFactory`][arkor_rx._sweep_runs.RunFactory] when it makes runs as it goes)
and the sweep calls the methods of `RunSource` on it, with the facts it needs
(whether the sweep was cancelled), nothing more. The runs of an Optuna study
come from [`arkor_rx.optuna_bridge`][arkor_rx.optuna_bridge].
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import reactivex
from reactivex import Observable

from arkor_rx._sweep_knobs import explicit_runs, grid_runs
from arkor_rx._sweep_runs import RunFactory, Slot
from arkor_rx.errors import ConfigError
from arkor_rx.events import TrainingEvent
from arkor_rx.stopping import StopDecision

__all__ = ["FixedSource", "RunSource", "run_source"]


class RunSource(Protocol):
    """Where a sweep's runs come from: a fixed list, or a study asked one trial at a time."""

    merge_limit: int | None
    """How many runs ``events()`` follows at once (None: as many as come)."""

    def known(self) -> Sequence[Slot]:
        """The runs made so far, in run order."""

    def slots(self) -> Observable[Slot]:
        """Every run, as it becomes known (for ``events()``)."""

    def worker_count(self, max_concurrent: int) -> int:
        """How many runs ``wait()`` follows at once."""

    async def next_slot(self, cancelled: Callable[[], bool]) -> Slot | None:
        """The next run to follow (marked running), or None when there is none left.

        ``cancelled()``: whether the sweep was cancelled (then no new run may be made).
        """

    def started(self, slot: Slot) -> None:
        """The run's job was submitted (or re-attached)."""

    def seen(self, slot: Slot, event: TrainingEvent) -> StopDecision | None:
        """A handled event of the run; a decision when the source stops the run."""

    async def finished(self, slot: Slot) -> None:
        """The run ended (or raised, or was never started)."""


class FixedSource:
    """The runs of a grid or an explicit list, all known up front."""

    def __init__(self, slots: list[Slot], max_concurrent: int) -> None:
        self._slots = slots
        self.merge_limit: int | None = max_concurrent

    def known(self) -> Sequence[Slot]:
        return self._slots

    def slots(self) -> Observable[Slot]:
        return reactivex.from_iterable(self._slots)

    def worker_count(self, max_concurrent: int) -> int:
        return max(1, min(max_concurrent, sum(s.state == "pending" for s in self._slots)))

    async def next_slot(self, cancelled: Callable[[], bool]) -> Slot | None:
        for slot in self._slots:
            if slot.state == "pending":
                slot.state = "running"
                return slot
        return None

    def started(self, slot: Slot) -> None:
        pass

    def seen(self, slot: Slot, event: TrainingEvent) -> StopDecision | None:
        return None

    async def finished(self, slot: Slot) -> None:
        pass


def run_source(
    *,
    grid: Mapping[str, Sequence[Any]] | None,
    runs: Sequence[Mapping[str, Any]] | None,
    study: Any,
    space: Callable[[Any], Mapping[str, Any]] | None,
    n_runs: int | None,
    shared: Mapping[str, Any],
    allowed: Sequence[str],
    monitor: str | None,
    mode: str | None,
    max_concurrent: int,
    max_running: int | None = None,
) -> tuple[Callable[[RunFactory], RunSource], str | None]:
    """The source of ``create_sweep``'s runs (made from the runs' factory), and the mode.

    Raises:
        ConfigError: not exactly one of grid, runs and study; a bad grid or
            list; ``space``/``n_runs`` without a study; a bad study.
    """
    chosen = [k for k, v in (("grid", grid), ("runs", runs), ("study", study)) if v is not None]
    if len(chosen) != 1:
        raise ConfigError(
            "give exactly one of grid=, runs= or study= "
            + (f"(got {' and '.join(chosen)})" if chosen else "(got none)")
        )
    if study is None and (space is not None or n_runs is not None):
        raise ConfigError("space= and n_runs= go with study=")
    if study is None and max_running is not None:
        raise ConfigError("max_running= goes with study= (max_concurrent= caps this process)")
    if study is not None:
        from arkor_rx import optuna_bridge

        mode = optuna_bridge.study_mode(study, monitor, mode)
        make = optuna_bridge.study_source(study, space, n_runs, monitor, allowed, max_running)
        return make, mode
    knobs = grid_runs(grid, shared, allowed) if grid is not None else explicit_runs(runs, allowed)

    def source(factory: RunFactory) -> RunSource:
        return FixedSource([factory.make(i, k) for i, k in enumerate(knobs)], max_concurrent)

    return source, mode
