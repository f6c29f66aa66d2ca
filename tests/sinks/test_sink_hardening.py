"""Sinks never freeze the loop and never lie about success (issue 23, item 5).

A step past int64 is isolated (the rest of its batch is written, the sink's
error counted); a recorder opened on a FIFO with no reader holds up its own
sink, not the event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
import reactivex
from mlflow.tracking import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import (  # type: ignore[import-untyped]
    EventAccumulator,
)

from arkor_rx import operators as aop
from arkor_rx import sinks
from arkor_rx.events import TrainingCompleted, TrainingLog
from arkor_rx.jobs import TrainingJob
from arkor_rx.sinks import Outcome, SinkHub
from arkor_rx.sinks._tracking import StepRangeError

pytestmark = pytest.mark.filterwarnings(
    "ignore::sqlalchemy.exc.SADeprecationWarning"  # mlflow's own models, SQLAlchemy 2.1
)

HUGE = 2**63  # one past int64's largest value


def logs_with_one_bad_step() -> list[TrainingLog]:
    steps = [1, 2, 3, HUGE, 4, 5, 6]
    return [TrainingLog(job_id="j1", step=s, loss=1.0) for s in steps]


async def test_tensorboard_writes_the_rest_of_a_batch_around_a_step_past_int64(
    tmp_path: Path,
) -> None:
    tb = sinks.TensorBoard(tmp_path / "tb")
    events = [*logs_with_one_bad_step(), TrainingCompleted(job_id="j1")]
    await reactivex.from_iterable(events).pipe(aop.to_sink(tb, name="r"))
    (folder,) = (tmp_path / "tb").iterdir()
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    assert [s.step for s in acc.Scalars("train/loss")] == [1, 2, 3, 4, 5, 6]
    assert tb.stats.errors == 1
    assert tb.stats.last_error is not None
    assert str(HUGE) in tb.stats.last_error


async def test_mlflow_logs_the_rest_of_a_batch_around_a_step_past_int64(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    sink = sinks.MLflow(uri, experiment="arkor", artifact_location=(tmp_path / "a").as_uri())
    hub = SinkHub([sink])
    hub.open(TrainingJob(id="j1", name="r"))
    assert hub.put_batch(logs_with_one_bad_step()) is None
    hub.close(Outcome("completed", job_id="j1"))
    await hub.finish()
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("arkor")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    history = client.get_metric_history(run.info.run_id, "loss")
    assert sorted(m.step for m in history) == [1, 2, 3, 4, 5, 6]
    assert sink.stats.errors == 1


async def test_a_recorder_on_a_fifo_without_a_reader_does_not_freeze_the_loop(
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    record = sinks.JSONL(fifo)
    events = [TrainingLog(job_id="j1", step=1, loss=1.0), TrainingCompleted(job_id="j1")]
    done = asyncio.ensure_future(reactivex.from_iterable(events).pipe(aop.to_sink(record)))
    for _ in range(200):  # the loop goes on while the open waits for a reader
        await asyncio.sleep(0)
    assert not done.done()
    reader = await asyncio.to_thread(open, fifo, encoding="utf-8")  # the open returns now
    with reader:
        await done
        lines = reader.read().splitlines()
    assert [json.loads(line)["data"]["type"] for line in lines] == [
        "training.log",
        "training.completed",
    ]


class NeverCloses:
    """A sink whose close never returns (a tracker that never answers)."""

    close_deadline = 0.2

    def __init__(self) -> None:
        self.written: list[object] = []

    async def open(self, job: TrainingJob) -> None:
        return None

    async def write(self, events: object) -> None:
        self.written.append(events)

    async def close(self, outcome: Outcome) -> None:
        await asyncio.Event().wait()


async def test_a_sink_stuck_past_its_deadline_is_counted_and_not_waited_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stuck, fine = NeverCloses(), sinks.CSV(os.devnull)
    hub = SinkHub([stuck, fine])
    hub.open(TrainingJob(id="j1", name="r"))
    hub.put(TrainingLog(job_id="j1", step=1, loss=1.0))
    hub.close(Outcome("completed", job_id="j1"))
    await asyncio.wait_for(hub.finish(), 60)  # returns: the stuck close is given up on
    assert stuck.stats.errors == 1  # type: ignore[attr-defined]
    assert "did not return within 0.2 s" in (stuck.stats.last_error or "")  # type: ignore[attr-defined]
    assert fine.stats.errors == 0
    assert fine.stats.written == 1
    assert "close for job j1 failed" in caplog.text


async def test_mlflow_a_step_past_int64_fails_only_its_own_run(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    sink = sinks.MLflow(uri, artifact_location=(tmp_path / "a").as_uri(), fail_on_error=True)
    good, bad = SinkHub([sink]), SinkHub([sink])
    good.open(TrainingJob(id="j2", name="good"))
    bad.open(TrainingJob(id="j1", name="bad"))
    good.put(TrainingLog(job_id="j2", step=1, loss=1.0))  # the batch's first run
    for event in logs_with_one_bad_step():
        bad.put(event)
    good.close(Outcome("completed", job_id="j2"))
    bad.close(Outcome("completed", job_id="j1"))
    await good.finish()  # written whole: nothing to raise
    with pytest.raises(StepRangeError, match=str(HUGE)):
        await bad.finish()
    assert sink.stats.errors == 1
