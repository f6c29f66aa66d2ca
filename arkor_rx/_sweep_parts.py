"""The pieces of a sweep: knob checks, the run slots and where runs come from.

Rule 1: nothing here sends anything. A `Slot` is one run's state (its
[`Run`][arkor_rx.runs.Run], its Trainer, what its monitored metric did); a
`RunSource` hands the sweep its runs, from a fixed list here or from an
Optuna study in [`arkor_rx.optuna_bridge`][arkor_rx.optuna_bridge].
"""

from __future__ import annotations

import difflib
import inspect
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias

import reactivex
from reactivex import Observable

from arkor_rx.errors import ConfigError
from arkor_rx.events import TrainingEvent, TrainingLog
from arkor_rx.pruning import Pruner  # its one home; re-exported for the sweep modules
from arkor_rx.runs import Run
from arkor_rx.trainer import Trainer, TrainingResult, create_trainer

__all__ = [
    "FixedSource",
    "Mode",
    "Pruner",
    "RunSource",
    "Slot",
    "check_knobs",
    "explicit_runs",
    "grid_runs",
    "knob_names",
    "knob_text",
]

Mode: TypeAlias = Literal["min", "max"]

_NOT_KNOBS = frozenset(
    {"name", "callbacks", "client", "reconnect", "early_stopping", "sinks", "samples"}
)


def knob_names() -> tuple[str, ...]:
    """The names a grid, a run or the shared config may set: ``create_trainer``'s config keywords.

    Examples:
        >>> "learning_rate" in knob_names(), "lora_r" in knob_names(), "client" in knob_names()
        (True, True, False)
    """
    return tuple(p for p in inspect.signature(create_trainer).parameters if p not in _NOT_KNOBS)


@dataclass
class _Track:
    """What the sweep saw of one run's monitored metric."""

    value: float | None = None
    value_step: int | None = None
    best_value: float | None = None
    best_step: int | None = None
    last_step: int | None = None

    def see(self, event: TrainingEvent, monitor: str | None, mode: Mode) -> None:
        step = getattr(event, "step", None)
        if isinstance(step, int):
            self.last_step = step
        if monitor is None or not isinstance(event, TrainingLog):
            return
        value = event.metric(monitor)
        if value is None:
            return
        value = float(value)
        self.value, self.value_step = value, event.step
        if math.isnan(value):
            return
        best = self.best_value
        if best is None or (value < best if mode == "min" else value > best):
            self.best_value, self.best_step = value, event.step


@dataclass(eq=False)
class Slot:
    """One run's state inside a sweep (internal: sources make them with ``Sweep.make_slot``)."""

    run: Run
    trainer: Trainer | None = None
    trial: Any = None
    state: Literal["pending", "running", "done"] = "pending"
    result: TrainingResult | None = None
    error: BaseException | None = None
    track: _Track = field(default_factory=_Track)


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

    def next_slot(self, sweep: Any) -> Slot | None:
        """The next run to follow (marked running), or None when there is none left."""

    def started(self, slot: Slot) -> None:
        """The run's job was submitted."""

    def finished(self, slot: Slot, sweep: Any) -> None:
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

    def next_slot(self, sweep: Any) -> Slot | None:
        for slot in self._slots:
            if slot.state == "pending":
                slot.state = "running"
                return slot
        return None

    def started(self, slot: Slot) -> None:
        pass

    def finished(self, slot: Slot, sweep: Any) -> None:
        pass


def knob_text(knobs: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in knobs.items())


def check_knobs(where: str, keys: Sequence[Any], allowed: Sequence[str]) -> None:
    """ConfigError naming ``where`` for the first key that is not a knob (with a close match)."""
    for key in keys:
        if not isinstance(key, str) or key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{where}: unknown knob {key!r}{hint} (knobs are create_trainer's "
                f"config keywords, e.g. learning_rate, lora_r)"
            )


def grid_runs(
    grid: object, shared: Mapping[str, Any], allowed: Sequence[str]
) -> list[dict[str, Any]]:
    if not isinstance(grid, Mapping) or not grid:
        raise ConfigError(f"grid must be a non-empty dict of knob -> list of values, got {grid!r}")
    check_knobs("grid", list(grid), allowed)
    for key, values in grid.items():
        if key in shared:
            raise ConfigError(f"grid: {key} is also set in the shared config; set it in one place")
        if isinstance(values, str | bytes | Mapping) or not isinstance(values, Sequence):
            raise ConfigError(f"grid[{key!r}] must be a list of values, got {values!r}")
        if not values:
            raise ConfigError(f"grid[{key!r}] is an empty list: the grid would have no runs")
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def explicit_runs(runs: object, allowed: Sequence[str]) -> list[dict[str, Any]]:
    if isinstance(runs, str | bytes | Mapping) or not isinstance(runs, Sequence) or not runs:
        raise ConfigError(f"runs must be a non-empty list of dicts of knobs, got {runs!r}")
    out: list[dict[str, Any]] = []
    for index, item in enumerate(runs):
        if not isinstance(item, Mapping):
            raise ConfigError(f"runs[{index}] must be a dict of knobs, got {item!r}")
        check_knobs(f"runs[{index}]", list(item), allowed)
        out.append(dict(item))
    return out
