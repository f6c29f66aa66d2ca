"""TensorBoard event files read back with TensorBoard's own reader; the CSV sink."""

from __future__ import annotations

import csv
import math
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import reactivex
from tensorboard.backend.event_processing.event_accumulator import (  # type: ignore[import-untyped]
    EventAccumulator,
)
from tensorboard.plugins.hparams import plugin_data_pb2  # type: ignore[import-untyped]
from tensorboardX.event_file_writer import EventsWriter  # type: ignore[import-untyped]
from tensorboardX.proto.event_pb2 import Event  # type: ignore[import-untyped]

from arkor_rx import operators as aop
from arkor_rx import sinks
from arkor_rx.events import TrainingCompleted, TrainingLog, TrainingStarted
from arkor_rx.jobs import TrainingJob
from arkor_rx.runs import Run, RunEvent
from arkor_rx.samples import Sample, SamplesAnswered
from arkor_rx.sinks import Outcome, SinkHub, _tensorboard
from arkor_rx.sinks._csv import CSV_COLUMNS
from arkor_rx.sinks._tracking import StepRangeError


def a_run(job_id: str = "j1") -> list[Any]:
    return [
        TrainingStarted(job_id=job_id),
        TrainingLog(
            job_id=job_id, step=10, loss=2.0, learning_rate=2e-4, epoch=0.1, samples_per_second=40.0
        ),
        TrainingLog(job_id=job_id, step=20, loss=1.5, eval_loss=1.7, learning_rate=1e-4),
        SamplesAnswered(
            job_id=job_id,
            step=20,
            samples=(
                Sample("My invoice | is wrong", "Billing team"),
                Sample("Reset?", error="timeout"),
            ),
        ),
        TrainingCompleted(job_id=job_id, metrics={"loss": 1.5, "train_runtime": 12.0}),
    ]


def read(folder: Path) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def scalars(acc: EventAccumulator, tag: str) -> list[tuple[int, float]]:
    return [(s.step, s.value) for s in acc.Scalars(tag)]


async def test_tensorboard_scalars_text_and_hparams_read_back(tmp_path: Path) -> None:
    tb = sinks.TensorBoard(tmp_path / "runs")
    source = reactivex.from_iterable(a_run())
    await source.pipe(aop.to_sink(tb, name="support-bot"))
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name == "support-bot-j1"
    acc = read(folder)
    assert scalars(acc, "train/loss") == [(10, 2.0), (20, 1.5)]
    assert scalars(acc, "eval/loss") == [(20, pytest_approx(1.7))]
    lr = scalars(acc, "train/learning_rate")
    assert [s for s, _ in lr] == [10, 20]
    assert [v for _, v in lr] == [pytest_approx(2e-4), pytest_approx(1e-4)]
    assert scalars(acc, "train/epoch") == [(10, pytest_approx(0.1))]
    assert scalars(acc, "train/samples_per_second") == [(10, 40.0)]
    assert scalars(acc, "final/loss")[0][1] == 1.5
    assert scalars(acc, "final/eval_loss")[0][1] == pytest_approx(1.7)
    assert scalars(acc, "final/train_runtime")[0][1] == 12.0
    (text,) = acc.Tensors("samples/text_summary")
    assert text.step == 20
    markdown = text.tensor_proto.string_val[0].decode()
    assert "My invoice \\| is wrong | Billing team" in markdown
    assert "(error: timeout)" in markdown
    content = acc.PluginTagToContent("hparams")
    session = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = dict(session.session_start_info.hparams)
    assert hparams["outcome"].string_value == "completed"
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    metric_tags = {m.name.tag for m in experiment.experiment.metric_infos}
    assert {"final/loss", "final/eval_loss"} <= metric_tags


async def test_tensorboard_one_folder_per_sweep_run_with_config_as_hparams(tmp_path: Path) -> None:
    tb = sinks.TensorBoard(tmp_path / "runs")
    runs = [
        Run(0, "ja", {"learning_rate": 1e-4, "lora": {"r": 8}}, "sweep-0"),
        Run(1, "jb", {"learning_rate": 2e-4, "lora": {"r": 16}}, "sweep-1"),
    ]
    merged = [RunEvent(run, event) for run in runs for event in a_run(run.job_id or "")]
    await reactivex.from_iterable(merged).pipe(aop.to_sink(tb))
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["sweep-0-ja", "sweep-1-jb"]
    acc = read(tmp_path / "runs" / "sweep-1-jb")
    content = acc.PluginTagToContent("hparams")
    session = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = dict(session.session_start_info.hparams)
    assert hparams["lora.r"].number_value == 16
    assert hparams["learning_rate"].number_value == pytest_approx(2e-4)


async def test_csv_one_row_per_log_event(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    diverged = TrainingLog(job_id="j1", step=30, loss=math.inf)
    await reactivex.from_iterable([*a_run()[:3], diverged, a_run()[-1]]).pipe(
        aop.to_sink(sinks.CSV(path), name="bot")
    )
    with path.open() as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r[2] for r in rows[1:]] == ["10", "20", "30"]
    by_step = {r[2]: dict(zip(CSV_COLUMNS, r, strict=True)) for r in rows[1:]}
    assert by_step["20"]["eval_loss"] == "1.7"
    assert by_step["20"]["epoch"] == ""
    assert by_step["30"]["loss"] == "inf"
    assert by_step["10"]["name"] == "bot"


def pytest_approx(value: float) -> Any:
    import pytest

    return pytest.approx(value, rel=1e-6)


async def test_tensorboard_flushes_a_live_run_so_tensorboard_shows_it_before_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_tensorboard, "FLUSH_SECS", 0.0)  # every write is due
    monkeypatch.setattr(_tensorboard, "MAX_FLUSHES_PER_SEC", math.inf)
    tb = sinks.TensorBoard(tmp_path / "runs")
    await tb.open(TrainingJob(id="j1", name="live"))
    assert (tmp_path / "runs" / "live-j1").is_dir()  # made when the run opens
    await tb.write([TrainingLog(job_id="j1", step=1, loss=2.0)])
    assert scalars(read(tmp_path / "runs" / "live-j1"), "train/loss") == [(1, 2.0)]
    await tb.write([TrainingLog(job_id="j1", step=2, loss=1.5)])
    assert scalars(read(tmp_path / "runs" / "live-j1"), "train/loss") == [(1, 2.0), (2, 1.5)]
    await tb.close(Outcome("completed", job_id="j1"))


async def test_tensorboard_a_run_whose_folder_open_could_not_make_is_made_by_its_next_write(
    tmp_path: Path,
) -> None:
    logdir = tmp_path / "runs"
    logdir.write_text("a file where the folder should be")
    tb = sinks.TensorBoard(logdir)
    with pytest.raises(OSError):
        await tb.open(TrainingJob(id="j1", name="r"))
    logdir.unlink()
    await tb.write([TrainingLog(job_id="j1", step=1, loss=2.0)])
    await tb.close(Outcome("completed", job_id="j1"))
    assert scalars(read(logdir / "r-j1"), "train/loss") == [(1, 2.0)]


def test_tensorboard_flushes_each_run_every_10_s_and_about_20_files_a_second_at_most() -> None:
    assert _tensorboard.flush_interval(1) == 10.0
    assert _tensorboard.flush_interval(200) == 10.0
    assert _tensorboard.flush_interval(1_000) == 50.0  # 1,000 files / 50 s = 20 a second


async def test_tensorboard_a_run_whose_folder_cannot_be_made_costs_no_other_run_an_event(
    tmp_path: Path,
) -> None:
    tb = sinks.TensorBoard(tmp_path / "runs")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "bad-j1").write_text("a file where the folder should be")
    with pytest.raises(OSError):
        await tb.open(TrainingJob(id="j1", name="bad"))
    await tb.open(TrainingJob(id="j2", name="good"))
    batch = [TrainingLog(job_id=job, step=s, loss=1.0 / s) for s in (1, 2) for job in ("j2", "j1")]
    with pytest.raises(sinks.RunErrors) as caught:
        await tb.write(batch)
    assert list(caught.value.errors) == ["j1"]  # its own run, not the batch's first
    assert isinstance(caught.value.errors["j1"], OSError)
    assert "bad-j1" in str(caught.value.errors["j1"])
    await tb.close(Outcome("completed", job_id="j2"))
    assert [s for s, _ in scalars(read(tmp_path / "runs" / "good-j2"), "train/loss")] == [1, 2]


async def test_tensorboard_a_run_with_a_bad_folder_and_a_bad_step_is_charged_its_folder_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "bad-j1").write_text("a file where the folder should be")
    tb = sinks.TensorBoard(tmp_path / "runs")
    with pytest.raises(OSError):
        await tb.open(TrainingJob(id="j1", name="bad"))
    await tb.open(TrainingJob(id="j2", name="good"))
    batch = [
        TrainingLog(job_id="j1", step=2**63, loss=1.0),  # skipped: outside int64
        TrainingLog(job_id="j1", step=1, loss=1.0),  # cannot be written: no folder
        TrainingLog(job_id="j2", step=2**63, loss=1.0),
        TrainingLog(job_id="j2", step=1, loss=1.0),
    ]
    with pytest.raises(sinks.RunErrors) as caught:
        await tb.write(batch)
    errors = caught.value.errors
    assert isinstance(errors["j1"], OSError)  # the folder: what the user must fix first
    assert "bad-j1" in str(errors["j1"])
    assert isinstance(errors["j2"], StepRangeError)  # its other step was written
    assert str(2**63) in str(errors["j2"])
    await tb.close(Outcome("completed", job_id="j2"))
    assert scalars(read(tmp_path / "runs" / "good-j2"), "train/loss") == [(1, 1.0)]


async def test_tensorboard_fail_on_error_fails_only_the_run_whose_folder_cannot_be_made(
    tmp_path: Path,
) -> None:
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "bad-j1").write_text("a file where the folder should be")
    tb = sinks.TensorBoard(tmp_path / "runs", fail_on_error=True)
    good, bad = SinkHub([tb]), SinkHub([tb])
    good.open(TrainingJob(id="j2", name="good"))
    bad.open(TrainingJob(id="j1", name="bad"))
    for step in (1, 2):  # no await between: the two runs share each batch, j2 first
        good.put(TrainingLog(job_id="j2", step=step, loss=1.0))
        bad.put(TrainingLog(job_id="j1", step=step, loss=1.0))
    good.close(Outcome("completed", job_id="j2"))
    bad.close(Outcome("completed", job_id="j1"))
    await good.finish()  # its run was written whole: nothing to raise
    with pytest.raises(OSError, match="bad-j1"):
        await bad.finish()
    assert [s for s, _ in scalars(read(tmp_path / "runs" / "good-j2"), "train/loss")] == [1, 2]


async def test_tensorboard_a_quiet_run_is_flushed_by_a_batch_of_another_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_tensorboard, "MAX_FLUSHES_PER_SEC", math.inf)
    monkeypatch.setattr(_tensorboard, "FLUSH_SECS", 1e9)  # nothing due yet
    tb = sinks.TensorBoard(tmp_path / "runs")
    await tb.open(TrainingJob(id="j1", name="quiet"))
    await tb.open(TrainingJob(id="j2", name="busy"))
    await tb.write([TrainingLog(job_id="j1", step=1, loss=2.0)])
    assert "train/loss" not in read(tmp_path / "runs" / "quiet-j1").Tags()["scalars"]  # buffered
    monkeypatch.setattr(_tensorboard, "FLUSH_SECS", 0.0)  # now due
    await tb.write([TrainingLog(job_id="j2", step=1, loss=3.0)])
    assert scalars(read(tmp_path / "runs" / "quiet-j1"), "train/loss") == [(1, 2.0)]
    for job in ("j1", "j2"):
        await tb.close(Outcome("completed", job_id=job))


async def test_tensorboard_never_syncs_a_file_on_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_tensorboard, "FLUSH_SECS", 0.0)
    monkeypatch.setattr(_tensorboard, "MAX_FLUSHES_PER_SEC", math.inf)
    synced_on: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced_on.append(threading.current_thread().name)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    tb = sinks.TensorBoard(tmp_path / "runs")
    job = TrainingJob(id="j1", name="r")
    await tb.open(job)
    await tb.write([TrainingLog(job_id="j1", step=1, loss=2.0)])
    await tb.close(Outcome("completed", job_id="j1"))
    assert len(synced_on) == 2  # the live flush and the close
    assert threading.main_thread().name not in synced_on


async def test_tensorboard_two_owners_of_one_run_share_its_file_until_the_last_close(
    tmp_path: Path,
) -> None:
    tb = sinks.TensorBoard(tmp_path / "runs")
    job = TrainingJob(id="j1", name="r")
    await tb.open(job)  # e.g. a Trainer's sinks
    await tb.open(job)  # and a to_sink on its events
    await tb.write([TrainingLog(job_id="j1", step=1, loss=2.0)])
    await tb.close(Outcome("cancelled", job_id="j1"))  # the first owner leaves
    await tb.write([TrainingLog(job_id="j1", step=2, loss=1.5)])
    await tb.close(Outcome("completed", job_id="j1"))
    assert len(list((tmp_path / "runs" / "r-j1").iterdir())) == 1  # one file
    acc = read(tmp_path / "runs" / "r-j1")
    assert scalars(acc, "train/loss") == [(1, 2.0), (2, 1.5)]
    content = acc.PluginTagToContent("hparams")
    session = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    assert session.session_start_info.hparams["outcome"].string_value == "completed"


async def test_tensorboard_a_failed_flush_is_reported_and_tried_again_by_the_next_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_tensorboard, "FLUSH_SECS", 0.0)
    monkeypatch.setattr(_tensorboard, "MAX_FLUSHES_PER_SEC", math.inf)
    real_fsync = os.fsync
    failures = [OSError(28, "No space left on device")]

    def fsync(fd: int) -> None:
        if failures:
            raise failures.pop()
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    tb = sinks.TensorBoard(tmp_path / "runs")
    await tb.open(TrainingJob(id="j1", name="r"))
    await tb.open(TrainingJob(id="j2", name="other"))
    with pytest.raises(sinks.RunErrors, match="No space left") as caught:
        await tb.write([TrainingLog(job_id="j1", step=1, loss=2.0)])
    assert list(caught.value.errors) == ["j1"]
    await tb.write([TrainingLog(job_id="j2", step=1, loss=3.0)])  # another run's batch
    assert scalars(read(tmp_path / "runs" / "r-j1"), "train/loss") == [(1, 2.0)]
    for job in ("j1", "j2"):
        await tb.close(Outcome("completed", job_id=job))


def test_tensorboard_first_flush_counts_from_the_first_event_not_from_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(random, "random", lambda: 0.5)  # the first flush: half a period in
    writer = _tensorboard._EventFile(str(tmp_path / "r"), "j1", EventsWriter)
    opened = time.monotonic()
    assert not writer.due(opened + 100.0, every=10.0)  # nothing written: nothing to flush
    writer.write_event(Event())
    written = time.monotonic()
    assert not writer.due(written + 4.0, every=10.0)
    assert writer.due(written + 5.0, every=10.0)
    writer.flush()
    flushed = time.monotonic()
    assert not writer.due(flushed + 9.0, every=10.0)
    assert writer.due(flushed + 10.0, every=10.0)
    writer.close()
