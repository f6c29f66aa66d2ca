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
from arkor_rx.sinks._base import DEFAULT_BUFFER_SIZE, Outcome, Overflow, RunErrors, SinkItem
from arkor_rx.sinks._builtin import BuiltinSink, require
from arkor_rx.sinks._tracking import SkippedSteps, finite, flat_config, log_metrics, run_label

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
    owners: int = 1
    """Owners that opened the run and have not closed it (two may share one sink)."""


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
    own event writer; so is a run's end (the final summaries, then the file
    flushed, synced and closed). A run's file is flushed while it runs at most
    every ``FLUSH_SECS`` (10 s; less often with over 200 runs open, see
    ``MAX_FLUSHES_PER_SEC``), at the sink's next batch once due. Only a run's
    start happens on the event loop, as tensorboardX's ``SummaryWriter`` does
    it in its caller's thread: ``open`` makes the run's folder and event file
    (a few local system calls, no sync). A thread hop for each would cost a
    thread switch per run, one run at a time, while the other runs' events
    wait (1,000 runs started together held their first events for seconds).
    On a network file system where creating a file takes milliseconds, expect
    that much per run start.

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
            (``"loop"``); now every value means what is described above.

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
        self._unflushed: set[_EventFile] = set()  # touched by one worker-thread call at a time
        self._last_pass = time.monotonic()

    def __repr__(self) -> str:
        return f"TensorBoard({self.logdir!r})"

    def run_dir(self, job: TrainingJob) -> str:
        """The folder of ``job``'s event files."""
        return os.path.join(self.logdir, run_label(job))

    async def open(self, job: TrainingJob) -> None:
        """Make the run's folder and event file (on failure, the run's next write tries again)."""
        if (run := self._runs.get(job.id)) is not None:
            run.owners += 1  # two owners share this sink: one file, ended by the last close
            return
        run = self._runs[job.id] = _Run(self.run_dir(job), job)
        self._writer(run)

    def _writer(self, run: _Run) -> _EventFile:
        if run.writer is None:
            run.writer = _EventFile(run.folder, run.job.id, self._events_writer)
        return run.writer

    def _file_of(self, run: _Run, failed: dict[str, Exception]) -> _EventFile | None:
        """The run's file, or None (noted in ``failed``) while its folder cannot be made."""
        if run.job.id in failed:
            return None
        try:
            writer = self._writer(run)
        except OSError as exc:  # this run only: the batch's other runs are written
            failed[run.job.id] = exc
            return None
        self._unflushed.add(writer)
        return writer

    async def write(self, events: Sequence[SinkItem]) -> None:
        """Scalars at their step, samples as text; due runs flushed (all in a worker thread)."""
        await asyncio.to_thread(self._write, events)

    def _write(self, events: Sequence[SinkItem]) -> None:
        summary = self._summary
        summary_value = summary.Value
        make_event = self._event
        now = time.time()
        skipped = SkippedSteps()
        failed: dict[str, Exception] = {}
        for event in events:
            run = self._runs.get(event.job_id)
            if run is None:
                continue
            if isinstance(event, TrainingLog | SamplesAnswered) and skipped.skip(
                event.job_id, event.step
            ):
                continue  # the rest is written
            if isinstance(event, TrainingLog):
                # One Summary of simple values per step: what add_scalar writes per
                # tag, without its per-call numpy conversion (the sink's main cost).
                values = []
                for name, value in log_metrics(event):
                    values.append(summary_value(tag=TB_TAGS[name], simple_value=value))
                    run.last[name] = value
                run.step = max(run.step, event.step)
                if values and (file := self._file_of(run, failed)) is not None:
                    file.write_event(
                        make_event(wall_time=now, step=event.step, summary=summary(value=values))
                    )
            elif isinstance(event, SamplesAnswered):
                run.step = max(run.step, event.step)
                text = self._tbx.summary.text("samples", _samples_markdown(event))
                if (file := self._file_of(run, failed)) is not None:
                    file.write_event(make_event(wall_time=now, step=event.step, summary=text))
            elif isinstance(event, TrainingCompleted) and event.metrics:
                run.final = dict(event.metrics)
        for job_id, error in skipped.errors().items():
            failed.setdefault(job_id, error)  # a folder error outranks a step error
        for job_id, error in self._flush_due():
            failed.setdefault(job_id, error)
        if failed:
            raise RunErrors(failed)  # each run's own: the other runs were written

    def _flush_due(self) -> list[tuple[str, OSError]]:
        """Flush the files with unflushed events whose time has come; return the failures (by run).

        At most ``MAX_FLUSHES_PER_SEC`` files for each second since the last pass
        (one at least): what is left, or failed, is flushed by a later batch.
        """
        now = time.monotonic()
        every = flush_interval(len(self._runs))
        budget = max(1.0, (now - self._last_pass) * MAX_FLUSHES_PER_SEC)
        self._last_pass = now
        errors: list[tuple[str, OSError]] = []
        for file in list(self._unflushed):
            if budget < 1.0:
                break
            if file.due(now, every):
                budget -= 1
                try:
                    file.flush()
                except OSError as exc:
                    errors.append((file.job_id, exc))
                else:
                    self._unflushed.discard(file)
        return errors

    async def close(self, outcome: Outcome) -> None:
        """Write the hyperparameters with the final metrics, flush and close the run.

        With two owners on one run, the last one's close ends it (with its outcome).
        """
        run = self._runs.get(outcome.job_id or "")
        if run is None:
            return
        run.owners -= 1
        if run.owners > 0:
            return
        del self._runs[run.job.id]
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
        await asyncio.to_thread(self._finish, run, hparams, metrics)

    def _finish(self, run: _Run, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        # The HParams summaries go into the run's own event file (tensorboardX's
        # add_hparams would open a sub-run), next to the final metric scalars.
        writer = self._writer(run)
        self._unflushed.discard(writer)
        try:
            now = time.time()
            for summary in self._tbx.summary.hparams(hparams, metrics):
                writer.write_event(self._event(wall_time=now, summary=summary))
            values = [self._summary.Value(tag=tag, simple_value=v) for tag, v in metrics.items()]
            if values:
                summary = self._summary(value=values)
                writer.write_event(self._event(wall_time=now, step=run.step, summary=summary))
        finally:
            writer.close()  # what was written is flushed and synced, even after an error


def _snake(name: str) -> str:
    """``evalLoss`` -> ``eval_loss`` (a name already in snake case is unchanged)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


FLUSH_SECS = 10.0
"""How often a run's event file is flushed to disk while it is written (and at its end).

Like tensorboardX's own ``SummaryWriter(flush_secs=...)``, a run is flushed at
most this often, so TensorBoard shows a live run within about ten seconds of an
event, at the sink's next batch once due (a run gone quiet is flushed by a batch
of any run, or at its end). Each run's first flush comes at a random point of
its first period, so many runs opened together do not all flush in the same
batch. With many runs open the period grows (``MAX_FLUSHES_PER_SEC``)."""

MAX_FLUSHES_PER_SEC = 20.0
"""About how many event files the sink flushes a second at most, however many runs are open.

tensorboardX's flush syncs the file to disk (``fsync``), which costs the disk a
journal commit and the worker thread two waits for the GIL. Up to 200 open runs
each file is flushed every ``FLUSH_SECS``; beyond, every ``runs / 20`` seconds
(1,000 runs: every 50 s), and a batch flushes at most this many files for each
second since the last one. Every event is still written; only how soon
TensorBoard sees it changes (tensorboardX's own default is every 120 s). A run's
end syncs its file once more, outside this count."""


def flush_interval(runs: int) -> float:
    """Seconds between two flushes of one run's file while ``runs`` runs are open."""
    return max(FLUSH_SECS, runs / MAX_FLUSHES_PER_SEC)


class _EventFile:
    """One run's event file: tensorboardX's synchronous ``EventsWriter``.

    tensorboardX's ``SummaryWriter`` would start a queue and a writer thread per
    run; the sink already writes each batch in one thread hop, so it drives the
    writer underneath, which frames and checksums the records itself. Made on
    the loop (``open``); written, flushed and closed in the worker thread.
    """

    def __init__(self, folder: str, job_id: str, writer_class: Any) -> None:
        os.makedirs(folder, exist_ok=True)
        self.job_id = job_id
        self._writer = writer_class(os.path.join(folder, "events"), f".{next(_FILES)}")
        self._phase = random.random()  # where in its first period the first flush falls
        self._written: float | None = None  # when the first event was written
        self._flushed: float | None = None

    def write_event(self, event: Any) -> None:
        self._writer.write_event(event)
        if self._written is None:
            self._written = time.monotonic()

    def due(self, now: float, every: float) -> bool:
        """Whether a flush is due: ``every`` seconds apart, the first at a random
        point of the first period after the first event (not after ``open``: a sweep
        may open runs long before they log)."""
        if self._flushed is not None:
            return now - self._flushed >= every
        return self._written is not None and now - self._written >= self._phase * every

    def flush(self) -> None:
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
