"""Runs of a sweep, and the values that travel on a sweep's merged stream.

Rule 1: a sweep is many Trainers and one merged Observable of
[`RunEvent`][arkor_rx.runs.RunEvent] values, keyed by [`Run`][arkor_rx.runs.Run].

Rule 2: a cross-run pruner decides and the sweep acts: it emits a
[`PruneDecision`][arkor_rx.runs.PruneDecision] naming the run, and the sweep cancels that run on the
backend, once.

Rule 3: a sweep's outcome is plain data: a [`SweepResult`][arkor_rx.runs.SweepResult] holds one
[`RunResult`][arkor_rx.runs.RunResult] per run, and the best run is chosen the way Optuna chooses
its best trial: among the runs that completed, the best *final* (last
reported) value of the monitored metric.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from arkor_rx._mode import Mode, better
from arkor_rx.events import TrainingEvent
from arkor_rx.stopping import StopDecision

if TYPE_CHECKING:
    from arkor_rx.trainer import TrainingResult

__all__ = ["PruneDecision", "Run", "RunEvent", "RunResult", "SweepResult", "SweepTable"]


@dataclass(frozen=True, slots=True)
class Run:
    """One run of a sweep: its position, its job id once submitted, and its config."""

    index: int
    """0-based position in the sweep (grid order, or the order of ``runs=``)."""
    job_id: str | None = None
    """The backend job id, None until the run was submitted."""
    config: Mapping[str, Any] = field(default_factory=dict)
    """The knobs this run sets on top of the shared config (snake_case names)."""
    name: str = ""
    """The job name (the sweep's name with the run's index and knobs)."""


@dataclass(frozen=True, slots=True)
class RunEvent:
    """An event of one run, on a sweep's merged stream."""

    run: Run
    """The run the event belongs to."""
    event: TrainingEvent
    """The typed event."""


@dataclass(frozen=True, slots=True)
class PruneDecision:
    """A cross-run pruner's verdict: stop ``run`` for ``decision``."""

    run: Run
    """The run to stop."""
    decision: StopDecision
    """Why: ``decision.rule`` is ``"prune.median"``, ``"prune.percentile"`` or
    ``"prune.successive_halving"``, and ``decision.reason`` names the comparison."""


@dataclass(frozen=True, slots=True)
class RunResult:
    """How one run of a sweep ended, with what its monitored metric did."""

    run: Run
    """The run (with its job id, when it was submitted)."""
    result: TrainingResult | None = None
    """The run's [`TrainingResult`][arkor_rx.trainer.TrainingResult]; None when it raised or never
    started."""
    error: BaseException | None = None
    """What the run raised (a refused submission, exhausted reconnects, a bad config
    from an Optuna ``space``, a callback's error ...); None otherwise."""
    value: float | None = None
    """The last reported value of the monitored metric (None: none was reported)."""
    value_step: int | None = None
    """The step [`value`][arkor_rx.runs.RunResult.value] was reported at."""
    best_value: float | None = None
    """The best reported value of the monitored metric (NaN never counts as best)."""
    best_step: int | None = None
    """The step [`best_value`][arkor_rx.runs.RunResult.best_value] was reported at."""
    last_step: int | None = None
    """The last step any event of the run carried."""
    trial_number: int | None = None
    """The Optuna trial of the run, in a study-driven sweep."""

    @property
    def config(self) -> Mapping[str, Any]:
        """The knobs this run set on top of the shared config (``run.config``)."""
        return self.run.config

    @property
    def stop(self) -> StopDecision | None:
        """The decision that stopped the run (a pruner's or a per-run rule's), else None."""
        return None if self.result is None else self.result.stop

    @property
    def reason(self) -> str | None:
        """Why the run ended as it did, in a line: its error, its stop decision, or the
        backend's error of a failed job (None for a plain completion)."""
        return _reason(self)

    @property
    def outcome(self) -> str:
        """``completed``, ``failed``, ``cancelled``, ``pruned`` (a ``prune.*`` rule),
        ``stopped`` (another stop rule), ``error`` or ``not started``."""
        if self.error is not None:
            return "error"
        if self.result is None:
            return "not started"
        stop = self.result.stop
        if stop is not None and self.result.status != "completed":
            return "pruned" if stop.rule.startswith("prune.") else "stopped"
        return self.result.status


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


class SweepTable(list[dict[str, Any]]):
    """The rows of a sweep's table: a plain list of dicts whose ``str()`` is a text table.

    Examples:
        >>> table = SweepTable([{"run": 0, "status": "completed"}], ["run", "status"])
        >>> table[0]["status"]
        'completed'
        >>> print(table)
        run  status
        0    completed
    """

    def __init__(self, rows: list[dict[str, Any]], columns: list[str]) -> None:
        super().__init__(rows)
        self.columns = columns
        """The column names, in display order."""

    def __str__(self) -> str:
        cells = [[str(c) for c in self.columns]]
        for row in self:
            cells.append([_cell(row.get(c)) for c in self.columns])
        widths = [max(len(line[i]) for line in cells) for i in range(len(self.columns))]
        return "\n".join(
            "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
            for line in cells
        )


def _cell(value: Any) -> str:
    if value is None or value is False:
        return ""
    if value is True:
        return "yes"
    if isinstance(value, float):
        return _number(value)
    return str(value)


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What ``Sweep.wait()`` returns: every run, the best one, and a table.

    The best run ([`best`][arkor_rx.runs.SweepResult.best]) is chosen among the runs whose job
    *completed*
    and that reported the monitored metric: the one whose final (last reported)
    value is lowest (``mode="min"``) or highest (``"max"``); a tie goes to the
    lower run index. A NaN final value never wins. Pruned, stopped, failed and
    cancelled runs are not candidates, as Optuna's ``study.best_trial`` only
    looks at complete trials.
    """

    runs: tuple[RunResult, ...]
    """One result per run, in run order."""
    monitor: str | None = None
    """The monitored metric (``"eval_loss"`` ...), None when the sweep had none."""
    mode: Mode = "min"
    """Whether lower (``"min"``) or higher (``"max"``) values are better."""

    @property
    def best(self) -> RunResult | None:
        """The completed run with the best final monitored value (see the class docs), or None."""
        best: RunResult | None = None
        for item in self.runs:
            if item.outcome != "completed" or item.value is None or math.isnan(item.value):
                continue
            if best is None or better(item.value, best.value, self.mode):
                best = item
        return best

    def by_outcome(self, outcome: str) -> list[RunResult]:
        """The runs whose [`RunResult.outcome`][arkor_rx.runs.RunResult.outcome] is ``outcome``
        (e.g. ``"pruned"``)."""
        return [item for item in self.runs if item.outcome == outcome]

    def table(self) -> SweepTable:
        """One row per run: its index, knobs, job id, outcome, last step, monitored
        values and stop reason. A plain list of dicts; ``str()`` of it is a text table.

        Examples:
            >>> result = SweepResult(runs=(RunResult(Run(0, "j1", {"lora_r": 8})),))
            >>> result.table()[0]["lora_r"], result.table()[0]["outcome"]
            (8, 'not started')
        """
        knobs: list[str] = []
        for item in self.runs:
            knobs.extend(k for k in item.run.config if k not in knobs)
        columns = ["run", *knobs, "job", "outcome", "best", "step"]
        if self.monitor is not None:
            columns += [self.monitor, f"best {self.monitor}"]
        columns.append("reason")
        rows: list[dict[str, Any]] = []
        best = self.best
        for item in self.runs:
            row: dict[str, Any] = {"run": item.run.index}
            row.update({k: item.run.config.get(k) for k in knobs})
            row["job"] = item.run.job_id
            row["outcome"] = item.outcome
            row["best"] = item is best
            row["step"] = item.last_step
            if self.monitor is not None:
                row[self.monitor] = item.value
                row[f"best {self.monitor}"] = item.best_value
            row["reason"] = item.reason
            rows.append(row)
        return SweepTable(rows, columns)

    def __str__(self) -> str:
        return str(self.table())


def _reason(item: RunResult) -> str | None:
    if item.error is not None:
        return f"{type(item.error).__name__}: {item.error}"
    if item.stop is not None:
        return f"{item.stop.rule}: {item.stop.reason}"
    if item.result is None:
        return None
    terminal = item.result.terminal_event
    error = getattr(terminal, "error", None)
    return error if isinstance(error, str) and error else item.result.job.error
