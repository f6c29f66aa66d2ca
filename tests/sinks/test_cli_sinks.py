"""The CLI's sink flags, ``record`` and ``replay`` (view and backfill), and chaos recordings."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from reactivex import operators as ops
from tensorboard.backend.event_processing.event_accumulator import (  # type: ignore[import-untyped]
    EventAccumulator,
)

import arkor_rx as ax
from arkor_rx import sinks
from arkor_rx.cli import EXIT_ERROR, EXIT_OK, main
from arkor_rx.cli.demo import DEMO_CHAOS
from arkor_rx.server import ServerConfig
from arkor_rx.server.faults import FaultConfig
from tests.cli.test_cli import serve_process, submit_job, use_backend
from tests.e2e.e2e_helpers import local_backend


def steps_of(events: list[Any]) -> list[int]:
    return [e.step for e in events if isinstance(e, ax.TrainingLog)]


async def test_a_chaos_recording_replays_to_the_events_the_live_run_delivered(
    tmp_path: Path,
) -> None:
    path = tmp_path / "chaos.jsonl"
    delivered: list[Any] = []

    def keep(ctx: Any) -> None:
        delivered.append(ctx.event)

    callbacks = dict.fromkeys(("on_started", "on_log", "on_checkpoint", "on_completed"), keep)
    async with local_backend(ServerConfig(step_delay=0.0, faults=FaultConfig(**DEMO_CHAOS))) as be:
        trainer = be.trainer(
            max_steps=24,
            logging_steps=1,
            save_steps=8,
            callbacks=callbacks,
            sinks=[sinks.JSONL(path)],
        )
        result = await trainer.wait()
    assert result.reconnects > 0  # the chaos really happened
    replayed = await ax.replay(path).pipe(ops.to_list())
    assert [e.model_dump() for e in replayed] == [e.model_dump() for e in delivered]
    assert [e.event_id for e in replayed] == [e.event_id for e in delivered]
    assert replayed == delivered


def test_demo_with_sink_flags_then_replay_backfills_tensorboard(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record, table, tb = tmp_path / "demo.jsonl", tmp_path / "demo.csv", tmp_path / "tb"
    argv = ["demo", "--chaos", "--steps", "12", "--step-delay", "0", "--no-live"]
    assert main([*argv, "--record", str(record), "--csv", str(table)]) == EXIT_OK
    events = list(ax.replay(record).pipe(ops.to_list()).run())
    assert events[0].type == "training.started"
    logs = steps_of(events)
    assert logs
    assert logs == sorted(logs)
    assert len({e.event_id for e in events}) == len(events)  # each event once, despite the chaos
    assert len(table.read_text().splitlines()) == len(logs) + 1  # a header and one row per log
    capsys.readouterr()
    assert main(["replay", str(record), "--no-live", "--tensorboard", str(tb)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "run summary" in out
    (folder,) = tb.iterdir()
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    losses = [e for e in events if isinstance(e, ax.TrainingLog) and e.loss is not None]
    assert [s.step for s in acc.Scalars("train/loss")] == [e.step for e in losses]


def test_replay_at_a_speed_and_a_bad_recording_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.jsonl"
    line = {
        "id": "1",
        "event": "training.log",
        "receivedAt": "2026-01-01T00:00:00Z",
        "data": {"type": "training.log", "jobId": "j1", "step": 1, "loss": 2.0},
    }
    good.write_text(json.dumps(line) + "\n")
    done = {
        **line,
        "id": "2",
        "receivedAt": "2026-01-01T00:00:00.5Z",
        "data": {"type": "training.completed", "jobId": "j1"},
    }
    good.write_text(json.dumps(line) + "\n" + json.dumps(done) + "\n")
    assert main(["replay", str(good), "--speed", "10", "--no-live"]) == EXIT_OK
    assert "training completed" in capsys.readouterr().out
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(line) + "\n{oops\n")
    assert main(["replay", str(bad), "--no-live"]) == EXIT_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"arkor-rx: error: {bad}, line 2: not JSON (Expecting property name "
        "enclosed in double quotes: line 1 column 2 (char 1))"
    ]
    assert main(["replay", str(tmp_path / "missing.jsonl"), "--no-live"]) == EXIT_ERROR
    assert "cannot read recording" in capsys.readouterr().err


def test_a_missing_extra_or_a_bad_webhook_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["replay", str(tmp_path / "x.jsonl"), "--webhook", "ftp://nope"]) == EXIT_ERROR
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("arkor-rx: error: Webhook url must be an http(s) URL")


@pytest.mark.timeout(60)
def test_record_a_job_on_a_backend_then_replay_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "job.jsonl"
    with serve_process("--token", "rec-tok") as (url, _proc, _lines):
        job_id = asyncio.run(submit_job(url, "rec-tok"))
        use_backend(monkeypatch, url, "rec-tok")
        assert main(["record", job_id, str(path)]) == EXIT_OK
    out = capsys.readouterr().out
    events = list(ax.replay(path).pipe(ops.to_list()).run())
    assert f"recorded {len(events)} events of job {job_id} to {path}" in out
    assert steps_of(events) == list(range(1, 9))
    assert events[-1].type == "training.completed"
    assert {e.job_id for e in events} == {job_id}


@pytest.mark.timeout(60)
def test_record_to_a_full_disk_is_one_line_and_not_success(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with serve_process("--token", "rec-tok") as (url, _proc, _lines):
        job_id = asyncio.run(submit_job(url, "rec-tok"))
        use_backend(monkeypatch, url, "rec-tok")
        assert main(["record", job_id, "/dev/full"]) == EXIT_ERROR
    captured = capsys.readouterr()
    assert "recorded" not in captured.out
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("arkor-rx: error: could not write /dev/full: OSError")
