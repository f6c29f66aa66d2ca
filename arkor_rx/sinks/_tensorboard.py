"""``sinks.TensorBoard(logdir)``: event files written with tensorboardX, one folder per run."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from arkor_rx.events import TrainingCompleted, TrainingLog
from arkor_rx.jobs import TrainingJob
from arkor_rx.samples import SamplesAnswered
from arkor_rx.sinks._base import DEFAULT_BUFFER_SIZE, Outcome, Overflow, SinkItem
from arkor_rx.sinks._common import (
    INT64,
    BuiltinSink,
    StepRangeError,
    finite,
    flat_config,
    log_metrics,
    require,
    run_label,
)

__all__ = ["TB_TAGS", "Isolation", "TensorBoard"]

Isolation: TypeAlias = Literal["loop", "process", "thread"]
"""Accepted for compatibility by ``TensorBoard(isolation=...)``; every value now means the same."""

TB_TAGS = {
    "loss": "train/loss",
    "eval_loss": "eval/loss",
    "learning_rate": "train/learning_rate",
    "epoch": "train/epoch",
    "samples_per_second": "train/samples_per_second",
}
"""The scalar tag of each metric."""

_NOT_FINAL_METRICS = frozenset({"steps", "labels"})
"""``training.completed`` numbers that describe the run's shape (its step count, the
dataset's label count), not a result to compare: not written as ``final/`` scalars."""


@dataclass(slots=True)
class _Run:
    folder: str
    job: TrainingJob
    writer: _EventFile | None = None  # created by open (else, again, by the run's next write)
    last: dict[str, float] = field(default_factory=dict)
    final: dict[str, Any] = field(default_factory=dict)
    step: int = 0
    """The last step seen: the final metrics are written at it."""


class TensorBoard(BuiltinSink):
    """Write each run's metrics, samples and config as TensorBoard event files.

    Every run gets its own folder ``<logdir>/<name>-<job id>`` (the run
    selector in TensorBoard). Scalars ``train/loss``, ``eval/loss``,
    ``train/learning_rate``, ``train/epoch`` and ``train/samples_per_second``
    are written at the event's step; checkpoint samples as text
    (``samples``, a markdown table per checkpoint step); when the run ends,
    the job config as hyperparameters (plus ``outcome``) with the final
    metrics (``final/loss``, ``final/eval_loss`` and the numeric
    ``training.completed`` metrics, snake-cased so ``evalLoss`` is
    ``final/eval_loss`` once, without its step and label counts) at the run's
    last step, which the HParams tab compares across runs.

    Every event is written (overflow ``"block"``). Each batch is written
    in one worker thread call (``asyncio.to_thread``) through tensorboardX's
    own event writer, and a run's file is flushed at most every
    ``FLUSH_SECS`` (10 s) while it runs (less often with over 200 runs open:
    see ``MAX_FLUSHES_PER_SEC``), and when it ends. A run's start and
    end are a few system calls on the event loop, as tensorboardX's
    ``SummaryWriter`` makes them in its caller's thread: ``open`` creates the
    run's folder and event file; ``close`` writes the final summaries,
    flushes and closes it. A thread hop for each would cost a thread switch
    per run, one run at a time, while the other runs' events wait (1,000 runs
    started together held their first events for seconds). On a network file
    system where creating a file takes milliseconds, expect that much per run
    start and end.

    Examples:
        >>> tb = TensorBoard("runs/support-bot")   # then: tensorboard --logdir runs
        >>> tb.logdir
        'runs/support-bot'

    Args:
        logdir: the parent folder of the run folders.
        overflow: ``"block"`` by default: every event is written.
        fail_on_error: fail ``wait()`` when writing fails.
        buffer_size: events queued before the overflow policy applies.
        isolation: accepted for compatibility and ignored: earlier releases
            could write in a separate process (``"process"``) or on the loop
            (``"loop"``); the files are now always written in a worker thread,
            once per batch.

    Raises:
        MissingExtraError: tensorboardX is not installed (``pip install arkor_rx[tensorboard]``).
        ConfigError: a bad ``overflow``, ``buffer_size`` or ``isolation``.
    """

    def __init__(
        self,
        logdir: str | os.PathLike[str],
        *,
        overflow: Overflow = "block",
        fail_on_error: bool = False,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        isolation: Isolation = "thread",
    ) -> None:
        super().__init__(overflow=overflow, fail_on_error=fail_on_error, buffer_size=buffer_size)
        if isolation not in ("loop", "process", "thread"):
            from arkor_rx.errors import ConfigError

            raise ConfigError(
                f"TensorBoard: isolation must be 'thread', 'loop' or 'process', not {isolation!r}"
            )
        self.isolation: Isolation = isolation
        """As given; ignored (see ``isolation`` above)."""
        self._tbx = require("tensorboardX", "tensorboard")
        self._events_writer: Any = require(
            "tensorboardX.event_file_writer", "tensorboard"
        ).EventsWriter
        self._event: Any = require("tensorboardX.proto.event_pb2", "tensorboard").Event
        self._summary: Any = require("tensorboardX.proto.summary_pb2", "tensorboard").Summary
        self.logdir = os.fspath(logdir)
        """The parent folder: point ``tensorboard --logdir`` at it."""
        self._runs: dict[str, _Run] = {}

    def __repr__(self) -> str:
        return f"TensorBoard({self.logdir!r})"

    def run_dir(self, job: TrainingJob) -> str:
        """The folder of ``job``'s event files."""
        return os.path.join(self.logdir, run_label(job))

    async def open(self, job: TrainingJob) -> None:
        """Create the run's folder and event file (a failure is retried by its next write)."""
        run = self._runs[job.id] = _Run(self.run_dir(job), job)
        self._writer(run)

    def _writer(self, run: _Run) -> _EventFile:
        if run.writer is None:
            every = flush_interval(len(self._runs))
            run.writer = _EventFile(run.folder, self._events_writer, every)
        return run.writer

    async def write(self, events: Sequence[SinkItem]) -> None:
        """Scalars at their step, samples as text; due runs flushed (all in a worker thread)."""
        await asyncio.to_thread(self._write, events)

    def _write(self, events: Sequence[SinkItem]) -> None:
        summary = self._summary
        summary_value = summary.Value
        make_event = self._event
        now = time.time()
        bad: list[int] = []
        for event in events:
            run = self._runs.get(event.job_id)
            if run is None:
                continue
            if isinstance(event, TrainingLog | SamplesAnswered) and event.step not in INT64:
                bad.append(event.step)  # isolated: the rest of the batch is written
                continue
            if isinstance(event, TrainingLog):
                # One Summary of simple values per step: what add_scalar writes per
                # tag, without its per-call numpy conversion (the sink's main cost).
                values = []
                for name, value in log_metrics(event):
                    values.append(summary_value(tag=TB_TAGS[name], simple_value=value))
                    run.last[name] = value
                run.step = max(run.step, event.step)
                if values:
                    self._writer(run).write_event(
                        make_event(wall_time=now, step=event.step, summary=summary(value=values))
                    )
            elif isinstance(event, SamplesAnswered):
                run.step = max(run.step, event.step)
                text = self._tbx.summary.text("samples", _samples_markdown(event))
                self._writer(run).write_event(
                    make_event(wall_time=now, step=event.step, summary=text)
                )
            elif isinstance(event, TrainingCompleted) and event.metrics:
                run.final = dict(event.metrics)
        every = flush_interval(len(self._runs))
        for job_id in {event.job_id for event in events}:  # a batch may hold several runs
            touched = self._runs.get(job_id)
            if touched is not None and touched.writer is not None:
                touched.writer.flush_if_due(every)
        if bad:
            raise StepRangeError(bad)

    async def close(self, outcome: Outcome) -> None:
        """Write the hyperparameters with the final metrics, flush and close the run."""
        run = self._runs.pop(outcome.job_id or "", None)
        if run is None:
            return
        job = outcome.job or run.job
        hparams: dict[str, Any] = flat_config(job.config or run.job.config)
        hparams["outcome"] = outcome.kind
        if outcome.stop is not None:
            hparams["stop_rule"] = outcome.stop.rule
        metrics: dict[str, float] = {}
        for name in ("loss", "eval_loss"):
            if (value := finite(run.last.get(name))) is not None:
                metrics[f"final/{name}"] = value
        for key, raw in run.final.items():
            name = _snake(key)  # evalLoss and eval_loss are one metric, written once
            if name not in _NOT_FINAL_METRICS and (value := finite(raw)) is not None:
                metrics[f"final/{name}"] = value  # the backend's final word
        self._finish(run, hparams, metrics)

    def _finish(self, run: _Run, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        # The HParams summaries go into the run's own event file (tensorboardX's
        # add_hparams would open a sub-run), next to the final metric scalars.
        writer = self._writer(run)
        now = time.time()
        for summary in self._tbx.summary.hparams(hparams, metrics):
            writer.write_event(self._event(wall_time=now, summary=summary))
        values = [self._summary.Value(tag=tag, simple_value=v) for tag, v in metrics.items()]
        if values:
            summary = self._summary(value=values)
            writer.write_event(self._event(wall_time=now, step=run.step, summary=summary))
        writer.close()


def _snake(name: str) -> str:
    """``evalLoss`` -> ``eval_loss`` (a name already in snake case is unchanged)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


FLUSH_SECS = 10.0
"""How often a run's event file is flushed to disk while it is written (and at its end).

Like tensorboardX's own ``SummaryWriter(flush_secs=...)``, a run is flushed at
most this often, so TensorBoard shows a live run within about ten seconds. Each
run's first flush comes at a random point of its first period, so many runs
opened together do not all flush in the same batch. With many runs open the
period grows (``MAX_FLUSHES_PER_SEC``)."""

MAX_FLUSHES_PER_SEC = 20.0
"""About how many event files the sink flushes a second at most, however many runs are open.

tensorboardX's flush syncs the file to disk (``fsync``), which costs the disk a
journal commit and the worker thread two waits for the GIL. Up to 200 open runs
each file is flushed every ``FLUSH_SECS``; beyond, every ``runs / 20`` seconds
(1,000 runs: every 50 s). Every event is still written; only how soon TensorBoard
sees it changes (tensorboardX's own default is every 120 s)."""


def flush_interval(runs: int) -> float:
    """Seconds between two flushes of one run's file while ``runs`` runs are open."""
    return max(FLUSH_SECS, runs / MAX_FLUSHES_PER_SEC)


class _EventFile:
    """One run's event file: tensorboardX's synchronous ``EventsWriter``, used in the sink's thread.

    tensorboardX's ``SummaryWriter`` would start a queue and a writer thread per
    run; the sink already writes each batch in one thread hop, so it drives the
    writer underneath, which frames and checksums the records itself.
    """

    def __init__(self, folder: str, writer_class: Any, every: float) -> None:
        os.makedirs(folder, exist_ok=True)
        self._writer = writer_class(os.path.join(folder, "events"), f".{next(_FILES)}")
        self._flushed = time.monotonic() - random.uniform(0.0, every)  # spread the runs

    def write_event(self, event: Any) -> None:
        self._writer.write_event(event)

    def flush_if_due(self, every: float) -> None:
        if time.monotonic() - self._flushed >= every:
            self._writer.flush()
            self._flushed = time.monotonic()

    def close(self) -> None:
        self._writer.close()  # flushes first


_FILES = itertools.count()
"""Suffixes that keep two event files of one folder (a run reopened) apart."""


def _samples_markdown(item: SamplesAnswered) -> str:
    def cell(text: str | None) -> str:
        return (text or "").replace("|", "\\|").replace("\n", " ")

    rows = ["| prompt | answer |", "| --- | --- |"]
    for sample in item.samples:
        answer = sample.answer if sample.error is None else f"(error: {sample.error})"
        rows.append(f"| {cell(sample.prompt)} | {cell(answer)} |")
    return "\n".join(rows)
