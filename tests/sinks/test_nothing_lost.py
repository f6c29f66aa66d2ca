"""Nothing is lost by default: a backfill, a replay and a Trainer write every event.

Read back with the trackers' own readers (TensorBoard's ``EventAccumulator``,
``csv``), never with our code.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import (  # type: ignore[import-untyped]
    EventAccumulator,
)

import arkor_rx as ax
from arkor_rx import operators as aop
from arkor_rx import sinks
from arkor_rx.cli import EXIT_OK, main
from tests.e2e.e2e_helpers import Backend

EVENTS = 20_000


def write_recording(path: Path, job_id: str = "j1", events: int = EVENTS) -> list[int]:
    """A recording of ``events`` events: started, logs at steps 1.., completed. The steps."""
    steps = list(range(1, events - 1))
    stamp = "2026-01-01T00:00:00.000000Z"
    frames: list[dict[str, object]] = [{"type": "training.started", "jobId": job_id}]
    frames += [
        {"type": "training.log", "jobId": job_id, "step": s, "loss": 1.0 / s, "learningRate": 1e-4}
        for s in steps
    ]
    frames.append({"type": "training.completed", "jobId": job_id, "artifacts": []})
    with path.open("w") as handle:
        for number, data in enumerate(frames, start=1):
            record = {"id": str(number), "event": data["type"], "data": data, "receivedAt": stamp}
            handle.write(json.dumps(record) + "\n")
    return steps


def tensorboard_steps(folder: Path, tag: str = "train/loss") -> list[int]:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return [scalar.step for scalar in acc.Scalars(tag)]


async def test_a_20k_event_replay_writes_every_event_to_tensorboard_and_csv(
    tmp_path: Path,
) -> None:
    recording = tmp_path / "run.jsonl"
    steps = write_recording(recording)
    tb = sinks.TensorBoard(tmp_path / "tb")
    table = sinks.CSV(tmp_path / "metrics.csv")
    await ax.replay(recording).pipe(aop.to_sink(tb, table, name="backfill"))
    (folder,) = (tmp_path / "tb").iterdir()
    assert tensorboard_steps(folder) == steps
    with (tmp_path / "metrics.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["step"]) for row in rows] == steps
    assert rows[-1]["loss"] == repr(1.0 / steps[-1])
    assert tb.stats.dropped == table.stats.dropped == 0
    assert tb.stats.written == table.stats.written == EVENTS


def test_the_cli_replay_backfills_every_event(tmp_path: Path) -> None:
    recording = tmp_path / "run.jsonl"
    steps = write_recording(recording, events=5_000)
    table = tmp_path / "m.csv"
    argv = ["replay", str(recording), "--tensorboard", str(tmp_path / "tb"), "--csv", str(table)]
    assert main(argv) == EXIT_OK
    (folder,) = (tmp_path / "tb").iterdir()
    assert tensorboard_steps(folder) == steps
    with table.open(newline="") as handle:
        assert [int(row["step"]) for row in csv.DictReader(handle)] == steps


async def test_a_trainer_with_default_sinks_writes_every_log_event(
    backend: Backend, tmp_path: Path
) -> None:
    tb = sinks.TensorBoard(tmp_path / "tb")
    table = sinks.CSV(tmp_path / "metrics.csv")
    trainer = backend.trainer(max_steps=400, logging_steps=1, sinks=[tb, table])
    result = await trainer.wait()
    assert result.status == "completed"
    (folder,) = (tmp_path / "tb").iterdir()
    assert tensorboard_steps(folder) == list(range(1, 401))
    with (tmp_path / "metrics.csv").open(newline="") as handle:
        assert [int(row["step"]) for row in csv.DictReader(handle)] == list(range(1, 401))
    assert tb.stats.dropped == table.stats.dropped == 0
