"""``sinks.WandB(project, mode=...)``: one Weights & Biases run per job."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from arkor_rx.events import TrainingCompleted, TrainingLog
from arkor_rx.jobs import TrainingJob
from arkor_rx.samples import SamplesAnswered
from arkor_rx.sinks._base import DEFAULT_BUFFER_SIZE, Outcome, Overflow, RunErrors, SinkItem
from arkor_rx.sinks._builtin import BuiltinSink, require
from arkor_rx.sinks._tracking import finite, flat_config, log_metrics, run_label

__all__ = ["WandB"]

WandBMode = Literal["online", "offline", "disabled"]


@dataclass(slots=True)
class _Run:
    run: Any
    samples: list[list[Any]] = field(default_factory=list)


class WandB(BuiltinSink):
    """Log every job as a W&B run: config, history by step, summary, a samples table.

    Each job is one run (``wandb.init(..., reinit="create_new")``, so runs of
    a sweep or of several trainers live side by side) named
    ``<name>-<job id>``, with the flattened job config as its config and
    the tags ``arkor`` and the outcome kind at the end. ``loss``,
    ``eval_loss``, ``learning_rate``, ``epoch`` and ``samples_per_second`` go
    to the history at the event's step; when the run ends the summary gets
    ``outcome``, ``stop_rule``/``stop_reason`` or ``error`` and the numeric
    final metrics (``final_<name>``), the checkpoint samples are logged as
    the table ``samples`` (``step``, ``prompt``, ``answer``, ``error``), and
    the run finishes with exit code 0 (completed) or 1.

    ``mode="offline"`` writes the run under ``dir`` for ``wandb sync`` later;
    ``"online"`` needs your W&B login; ``"disabled"`` logs nothing. Every W&B
    call runs in a worker thread.

    Examples:
        >>> sink = WandB(project="arkor", mode="offline")  # doctest: +SKIP

    Args:
        project: the W&B project.
        mode: ``"online"``, ``"offline"`` or ``"disabled"``.
        entity: the W&B entity (team or user), or None for your default.
        dir: where W&B writes its files (default: the current directory).
        group: a W&B group for every run of this sink (a sweep's name, say).
        overflow: ``"block"`` by default: every row is logged.
        fail_on_error: fail ``wait()`` when W&B fails.
        buffer_size: events buffered before the overflow policy applies.

    Raises:
        MissingExtraError: wandb is not installed (``pip install arkor_rx[wandb]``).
    """

    def __init__(
        self,
        project: str,
        *,
        mode: WandBMode = "online",
        entity: str | None = None,
        dir: str | os.PathLike[str] | None = None,
        group: str | None = None,
        overflow: Overflow = "block",
        fail_on_error: bool = False,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
    ) -> None:
        super().__init__(overflow=overflow, fail_on_error=fail_on_error, buffer_size=buffer_size)
        if mode not in ("online", "offline", "disabled"):
            from arkor_rx.errors import ConfigError

            raise ConfigError(f"WandB mode must be online, offline or disabled, not {mode!r}")
        self._wandb = require("wandb", "wandb")
        self.project = project
        self.mode: WandBMode = mode
        self.entity = entity
        self.dir = None if dir is None else os.fspath(dir)
        self.group = group
        self._runs: dict[str, _Run] = {}

    def __repr__(self) -> str:
        return f"WandB(project={self.project!r}, mode={self.mode!r})"

    async def open(self, job: TrainingJob) -> None:
        """Start the job's run (``wandb.init``) with its config."""
        self._runs[job.id] = _Run(await asyncio.to_thread(self._init, job))

    def _init(self, job: TrainingJob) -> Any:
        wandb = self._wandb
        return wandb.init(
            project=self.project,
            entity=self.entity,
            name=run_label(job),
            group=self.group,
            mode=self.mode,
            dir=self.dir,
            config={**flat_config(job.config or {}), "job_id": job.id},
            tags=["arkor"],
            reinit="create_new",
            settings=wandb.Settings(silent=True, console="off"),
        )

    async def write(self, events: Sequence[SinkItem]) -> None:
        """History rows at their step, run by run; samples kept for the table."""
        logs: dict[str, tuple[Any, list[tuple[int, dict[str, float]]], dict[str, float]]] = {}
        for event in events:
            run = self._runs.get(event.job_id)
            if run is None:
                continue
            _, rows, final = logs.setdefault(event.job_id, (run.run, [], {}))
            if isinstance(event, TrainingLog):
                values = dict(log_metrics(event))
                if values:
                    rows.append((event.step, values))
            elif isinstance(event, SamplesAnswered):
                run.samples += [[event.step, s.prompt, s.answer, s.error] for s in event.samples]
            elif isinstance(event, TrainingCompleted) and event.metrics:
                for key, raw in event.metrics.items():
                    if (value := finite(raw)) is not None:
                        final[f"final_{key}"] = value
        if any(rows or final for _, rows, final in logs.values()):
            errors = await asyncio.to_thread(self._log_all, logs)
            if errors:
                raise RunErrors(errors)  # each run's own: the other runs were logged

    @classmethod
    def _log_all(
        cls, logs: dict[str, tuple[Any, list[tuple[int, dict[str, float]]], dict[str, float]]]
    ) -> dict[str, Exception]:
        errors: dict[str, Exception] = {}
        for job_id, (run, rows, final) in logs.items():
            try:  # wandb logs to its local process: one run's failure does not stall the next
                cls._log(run, rows, final)
            except Exception as exc:
                errors[job_id] = exc
        return errors

    @staticmethod
    def _log(run: Any, rows: list[tuple[int, dict[str, float]]], final: dict[str, float]) -> None:
        for step, values in rows:
            run.log(values, step=step)
        for key, value in final.items():
            run.summary[key] = value

    async def close(self, outcome: Outcome) -> None:
        """Summary, samples table, then ``finish`` with the exit code."""
        run = self._runs.pop(outcome.job_id or "", None)
        if run is not None:
            await asyncio.to_thread(self._finish, run, outcome)

    def _finish(self, run: _Run, outcome: Outcome) -> None:
        summary = run.run.summary
        summary["outcome"] = outcome.kind
        if outcome.stop is not None:
            summary["stop_rule"] = outcome.stop.rule
            summary["stop_reason"] = outcome.stop.reason
        if outcome.error:
            summary["error"] = outcome.error
        if run.samples:
            table = self._wandb.Table(
                columns=["step", "prompt", "answer", "error"], data=run.samples
            )
            run.run.log({"samples": table})
        run.run.tags = (*run.run.tags, outcome.kind)
        run.run.finish(exit_code=0 if outcome.kind == "completed" else 1)
