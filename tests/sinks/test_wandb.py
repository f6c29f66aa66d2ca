"""The W&B sink in offline mode, read back from the run's own files.

How far the run is read back: the offline ``run-<id>.wandb`` file (W&B's
record log, leveldb log framing of ``wandb_internal_pb2.Record`` protobufs)
gives the run's name and project, its config, every history row with its
step, the summary updates and the exit code; the samples table is read from
the run's ``files/media/table/*.table.json``. What W&B's server would derive
on ``wandb sync`` (charts, the runs table) is not checked: no network.
"""

from __future__ import annotations

import json
import math
import struct
import time
from pathlib import Path
from typing import Any

import pytest
import reactivex
from wandb.proto import wandb_internal_pb2 as pb

from arkor_rx import operators as aop
from arkor_rx import sinks
from arkor_rx.events import TrainingCompleted, TrainingLog, TrainingStarted
from arkor_rx.jobs import TrainingJob
from arkor_rx.runs import Run, RunEvent
from arkor_rx.samples import Sample, SamplesAnswered
from arkor_rx.sinks import Outcome, SinkHub

BLOCK = 32768
HEADER = 7  # both the file header (":W&B", magic, version) and a record header


def records(path: Path) -> list[Any]:
    """The protobuf records of an offline run file (leveldb log format)."""
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    out: list[Any] = []
    pending = b""
    pos = HEADER
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:
            pos += left  # a block's zero trailer
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        if kind == 0:
            pos += left
            continue
        chunk = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind == 1:
            out.append(chunk)
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        else:
            out.append(pending + chunk)
            pending = b""
    parsed = []
    for raw in out:
        record = pb.Record()  # type: ignore[attr-defined]
        record.ParseFromString(raw)
        parsed.append(record)
    return parsed


def read_run(folder: Path) -> dict[str, Any]:
    """The run as its record log holds it, once wandb's service has written it all.

    ``run.finish()`` returns before wandb's separate service process has
    flushed the log, so this waits for the log's ``exit`` record (the last one
    a run writes): synchronised on the file's content, with a deadline only
    against a hang.
    """
    deadline = time.monotonic() + 60
    while True:
        try:
            run = _read_run(folder)
        except Exception:  # a record still being written (the last read is not guarded)
            if time.monotonic() > deadline:
                raise
            run = {}
        if "exit_code" in run or time.monotonic() > deadline:
            return run if run else _read_run(folder)
        time.sleep(0.05)


def _read_run(folder: Path) -> dict[str, Any]:
    (path,) = folder.glob("run-*.wandb")
    run: dict[str, Any] = {"history": [], "summary": {}, "config": {}}
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run["name"], run["project"] = record.run.display_name, record.run.project
            for item in record.run.config.update:
                run["config"][item.key] = json.loads(item.value_json)
        elif kind == "config":
            for item in record.config.update:
                run["config"][item.key] = json.loads(item.value_json)
        elif kind == "history":
            row = {
                i.key or "/".join(i.nested_key): json.loads(i.value_json)
                for i in record.history.item
            }
            run["history"].append(row)
        elif kind == "summary":
            for item in record.summary.update:
                run["summary"][item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
        elif kind == "exit":
            run["exit_code"] = record.exit.exit_code
    return run


@pytest.mark.timeout(240)
async def test_offline_runs_read_back_config_history_summary_samples(tmp_path: Path) -> None:
    sink = sinks.WandB(project="arkor", mode="offline", dir=tmp_path)
    ra = Run(0, "ja", {"learning_rate": 1e-4, "lora": {"r": 8}}, "sweep-0")
    events = [
        TrainingStarted(job_id="ja"),
        TrainingLog(job_id="ja", step=10, loss=2.0, learning_rate=1e-4),
        TrainingLog(job_id="ja", step=20, loss=1.5, eval_loss=1.7, epoch=0.5),
        SamplesAnswered(
            job_id="ja", step=20, samples=(Sample("Hi", "Hello"), Sample("X", error="t/o"))
        ),
        TrainingLog(job_id="ja", step=30, loss=math.nan),
        TrainingCompleted(job_id="ja", metrics={"train_runtime": 3.5}),
    ]
    merged = [RunEvent(ra, e) for e in events]  # type: ignore[arg-type]
    await reactivex.from_iterable(merged).pipe(aop.to_sink(sink))
    (folder,) = (tmp_path / "wandb").glob("offline-run-*")
    run = read_run(folder)
    assert (run["name"], run["project"]) == ("sweep-0-ja", "arkor")
    assert run["config"]["learning_rate"] == 1e-4
    assert run["config"]["lora.r"] == 8
    assert run["config"]["job_id"] == "ja"
    rows = [r for r in run["history"] if "loss" in r or "eval_loss" in r]
    assert [(r["_step"], r["loss"]) for r in rows[:2]] == [(10, 2.0), (20, 1.5)]
    assert rows[1]["eval_loss"] == 1.7
    assert rows[1]["epoch"] == 0.5
    assert rows[2]["_step"] == 30
    assert run["summary"]["outcome"] == "completed"
    assert run["summary"]["final_train_runtime"] == 3.5
    assert run["exit_code"] == 0
    (table_file,) = folder.glob("files/media/table/samples_*.table.json")
    table = json.loads(table_file.read_text())
    assert table["columns"] == ["step", "prompt", "answer", "error"]
    assert table["data"] == [[20, "Hi", "Hello", None], [20, "X", None, "t/o"]]


class _Watched:
    """A W&B run whose ``log`` calls are kept, or raise (a run that can no longer log)."""

    def __init__(self, run: Any, fails: bool) -> None:
        self._run = run
        self.fails = fails
        self.logged: list[dict[str, Any]] = []

    def log(self, data: dict[str, Any], **kwargs: Any) -> None:
        if self.fails:
            raise RuntimeError("wandb: this run cannot log")
        self.logged.append(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._run, name)


async def test_a_run_that_cannot_log_fails_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    import wandb

    real_init = wandb.init
    runs: dict[str, _Watched] = {}

    def init(*args: Any, **kwargs: Any) -> Any:
        name = kwargs["name"]
        runs[name] = _Watched(real_init(*args, **kwargs), fails=name == "bad-j1")
        return runs[name]

    monkeypatch.setattr(wandb, "init", init)
    sink = sinks.WandB(project="arkor", mode="disabled", fail_on_error=True)
    bad, good = SinkHub([sink]), SinkHub([sink])
    bad.open(TrainingJob(id="j1", name="bad"))
    good.open(TrainingJob(id="j2", name="good"))
    bad.put(TrainingLog(job_id="j1", step=1, loss=1.0))  # no await between: one batch
    good.put(TrainingLog(job_id="j2", step=1, loss=2.0))
    bad.close(Outcome("completed", job_id="j1"))
    good.close(Outcome("completed", job_id="j2"))
    with pytest.raises(RuntimeError, match="this run cannot log"):
        await bad.finish()
    await good.finish()  # nothing to raise: its row was logged after the other run failed
    assert {"loss": 2.0} in runs["good-j2"].logged
    assert sink.stats.errors == 1
