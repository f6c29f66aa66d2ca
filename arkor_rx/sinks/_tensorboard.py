"""``sinks.TensorBoard(logdir)``: event files written with tensorboardX, one folder per run."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from arkor_rx.events import TrainingCompleted, TrainingLog
from arkor_rx.jobs import TrainingJob
from arkor_rx.samples import SamplesAnswered
from arkor_rx.sinks._base import DEFAULT_BUFFER_SIZE, Outcome, Overflow, SinkItem, SinkStats
from arkor_rx.sinks._common import (
    BuiltinSink,
    find_extra,
    finite,
    flat_config,
    log_metrics,
    require,
    run_label,
)
from arkor_rx.sinks._process import Isolation, check_isolation

__all__ = ["TB_TAGS", "TensorBoard"]

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


_NOT_PICKLED = frozenset({"_tbx", "_files", "_event", "_summary", "_runs", "stats"})
"""What a pickled TensorBoard leaves out: imported modules, open runs, counters."""

_SLICE = 256
"""Events written between two turns given back to the loop."""


@dataclass(slots=True)
class _Run:
    writer: Any
    job: TrainingJob
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

    By default (``isolation="process"``) the event files are written in
    arkor_rx's sink worker process, one child process shared by every such
    sink (``arkor_rx.sinks._process``): building the protobufs costs some
    15 µs of Python per event, which would otherwise be taken from the
    stream's core. This instance stays in your process, where
    [`run_dir`][arkor_rx.sinks.TensorBoard.run_dir] and ``stats`` work as
    usual; the copy in the child does the writing, and a run's close
    returns once that copy has flushed it. ``isolation="loop"`` writes on the
    event loop instead.

    Examples:
        >>> tb = TensorBoard("runs/support-bot")   # then: tensorboard --logdir runs
        >>> tb.logdir
        'runs/support-bot'

    Args:
        logdir: the parent folder of the run folders.
        overflow: ``"drop"`` by default.
        fail_on_error: fail ``wait()`` when writing fails.
        buffer_size: events buffered before the overflow policy applies.
        isolation: ``"process"`` (the default: in the sink worker process) or
            ``"loop"`` (on the event loop).

    Raises:
        MissingExtraError: tensorboardX is not installed (``pip install arkor_rx[tensorboard]``).
        ConfigError: a bad ``overflow``, ``buffer_size`` or ``isolation``.
    """

    batch_interval = 0.25
    """Seconds a batch gathers before it is written (a live chart needs no more)."""

    def __init__(
        self,
        logdir: str | os.PathLike[str],
        *,
        overflow: Overflow = "drop",
        fail_on_error: bool = False,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        isolation: Isolation = "process",
    ) -> None:
        super().__init__(overflow=overflow, fail_on_error=fail_on_error, buffer_size=buffer_size)
        self.isolation: Isolation = check_isolation("TensorBoard", isolation)
        """Where the event files are written: ``"process"`` or ``"loop"``."""
        if isolation == "process":
            # Imported where the files are written: your process then never
            # loads tensorboardX (nor numpy and its thread pool) for this sink.
            find_extra("tensorboardX", "tensorboard")
        else:
            self._load()
        self.logdir = os.fspath(logdir)
        """The parent folder: point ``tensorboard --logdir`` at it."""
        self._runs: dict[str, _Run] = {}

    def _load(self) -> None:
        if "_tbx" in self.__dict__:
            return
        self._tbx = require("tensorboardX", "tensorboard")
        self._files = require("tensorboardX.event_file_writer", "tensorboard")
        self._event: Any = require("tensorboardX.proto.event_pb2", "tensorboard").Event
        self._summary: Any = require("tensorboardX.proto.summary_pb2", "tensorboard").Summary

    def __getstate__(self) -> dict[str, Any]:
        # Its configuration only (logdir, policies, isolation, a name set by
        # hand...): the modules are imported again where it is unpickled, and
        # open runs and counters stay with the instance they belong to.
        return {k: v for k, v in self.__dict__.items() if k not in _NOT_PICKLED}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._runs = {}
        self.stats = SinkStats()

    def __repr__(self) -> str:
        return f"TensorBoard({self.logdir!r})"

    def run_dir(self, job: TrainingJob) -> str:
        """The folder of ``job``'s event files."""
        return os.path.join(self.logdir, run_label(job))

    async def open(self, job: TrainingJob) -> None:
        """Create the run's folder and event file."""
        self._load()  # at the first run, where the files are written
        self._runs[job.id] = _Run(await asyncio.to_thread(self._create, self.run_dir(job)), job)

    def _create(self, folder: str) -> Any:
        # tensorboardX's own event file (TFRecord framing, crc32c), written
        # synchronously in this sink's worker thread: no second writer thread
        # and queue per run, whose hand-offs cost more than the writing.
        os.makedirs(folder, exist_ok=True)
        return self._files.EventsWriter(os.path.join(folder, "events"))

    async def write(self, events: Sequence[SinkItem]) -> None:
        """Scalars at their step, samples as text; flushed.

        On the loop, in slices of a few hundred events with a turn for the
        stream between them: a worker thread would contend for the GIL with
        the stream at every hand-off.
        """
        for start in range(0, len(events), _SLICE):
            if start:
                await asyncio.sleep(0)
            self._write(events[start : start + _SLICE])

    def _write(self, events: Sequence[SinkItem]) -> None:
        summary = self._summary
        summary_value = summary.Value
        make_event = self._event
        now = time.time()
        for event in events:
            run = self._runs.get(event.job_id)
            if run is None:
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
                    run.writer.write_event(
                        make_event(wall_time=now, step=event.step, summary=summary(value=values))
                    )
            elif isinstance(event, SamplesAnswered):
                run.step = max(run.step, event.step)
                text = self._tbx.summary.text("samples", _samples_markdown(event))
                run.writer.write_event(make_event(wall_time=now, step=event.step, summary=text))
            elif isinstance(event, TrainingCompleted) and event.metrics:
                run.final = dict(event.metrics)
        touched = self._runs.get(events[0].job_id) if events else None  # a batch is one run's
        if touched is not None:
            touched.writer.flush()

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
        await asyncio.to_thread(self._finish, run.writer, hparams, metrics, run.step)

    def _finish(
        self, writer: Any, hparams: dict[str, Any], metrics: dict[str, float], step: int
    ) -> None:
        # The HParams summaries go into the run's own event file (tensorboardX's
        # add_hparams would open a sub-run), next to the final metric scalars.
        now = time.time()
        for summary in self._tbx.summary.hparams(hparams, metrics):
            writer.write_event(self._event(wall_time=now, summary=summary))
        values = [self._summary.Value(tag=tag, simple_value=v) for tag, v in metrics.items()]
        if values:
            summary = self._summary(value=values)
            writer.write_event(self._event(wall_time=now, step=step, summary=summary))
        writer.close()


def _snake(name: str) -> str:
    """``evalLoss`` -> ``eval_loss`` (a name already in snake case is unchanged)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _samples_markdown(item: SamplesAnswered) -> str:
    def cell(text: str | None) -> str:
        return (text or "").replace("|", "\\|").replace("\n", " ")

    rows = ["| prompt | answer |", "| --- | --- |"]
    for sample in item.samples:
        answer = sample.answer if sample.error is None else f"(error: {sample.error})"
        rows.append(f"| {cell(sample.prompt)} | {cell(answer)} |")
    return "\n".join(rows)
