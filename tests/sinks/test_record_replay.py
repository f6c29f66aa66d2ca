"""JSONL recordings and ax.replay: the format, timing in virtual time, bad and truncated lines."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from reactivex.testing import TestScheduler

import arkor_rx as ax
from arkor_rx import operators as aop
from arkor_rx import sinks
from arkor_rx.errors import ConfigError
from arkor_rx.events import TrainingEvent, parse_event
from arkor_rx.replay import RECORD_KEYS, ReplayError
from arkor_rx.sse import ServerSentEvent
from tests.sinks.sink_helpers import run_events

FRAMES = [
    (
        "1",
        "training.started",
        '{"type":"training.started","jobId":"j1","timestamp":"2026-01-01T00:00:00Z","metadata":{"model":"m"}}',
    ),
    (
        "2",
        "training.log",
        '{"type":"training.log","jobId":"j1","timestamp":"2026-01-01T00:00:07Z","step":70,"loss":1.23,"evalLoss":null,"learningRate":0.0002,"epoch":0.5,"samplesPerSecond":41.2}',
    ),
    (
        "3",
        "training.log",
        '{"type":"training.log","jobId":"j1","step":80,"loss":1.1}',
    ),
    (
        "4",
        "checkpoint.saved",
        '{"type":"checkpoint.saved","jobId":"j1","step":80,"artifacts":[{"path":"a"}]}',
    ),
    (None, "message", '{"type":"training.log","jobId":"j1","step":90,"loss":1.0}'),
    ("6", "training.brand_new", '{"type":"training.brand_new","jobId":"j1","extra":{"x":1}}'),
    (
        "7",
        "training.completed",
        '{"type":"training.completed","jobId":"j1","metrics":{"loss":0.9},"artifacts":[]}',
    ),
]


def test_the_data_is_recorded_exactly_as_received_unknown_fields_and_spacing_included() -> None:
    from arkor_rx.sinks._jsonl import record_line

    data = '{"type": "training.log", "jobId":"j1","step":1,"loss":1.0,"gradNorm":0.5}'
    event = parse_event(ServerSentEvent(event="training.log", data=data, id="1"))
    assert event is not None
    line = record_line(event, "2026-01-01T00:00:00Z") or ""
    assert f'"data": {data},' in line
    assert json.loads(line)["data"]["gradNorm"] == 0.5


def test_json_over_several_data_lines_is_recorded_on_one_line_with_every_field() -> None:
    from arkor_rx.sinks._jsonl import record_line

    data = '{"type":"training.log",\n"jobId":"j1","step":2,\n"gradNorm":0.5}'
    event = parse_event(ServerSentEvent(event="training.log", data=data, id="2"))
    assert event is not None
    line = record_line(event, "2026-01-01T00:00:00Z") or ""
    assert line.count("\n") == 1
    assert line.endswith("\n")
    assert json.loads(line)["data"] == json.loads(data)


def test_a_changed_copy_is_recorded_from_its_fields_not_from_the_old_frame() -> None:
    from arkor_rx.sinks._jsonl import record_line

    data = '{"type":"training.log","jobId":"j1","step":3,"loss":1.0}'
    event = parse_event(ServerSentEvent(event="training.log", data=data, id="3"))
    assert event is not None
    changed = event.model_copy(update={"loss": 0.25})
    line = json.loads(record_line(changed, "2026-01-01T00:00:00Z") or "")
    assert line["data"]["loss"] == 0.25
    assert line["id"] == "3"


def received() -> list[TrainingEvent]:
    out = []
    for sse_id, name, data in FRAMES:
        event = parse_event(ServerSentEvent(event=name, data=data, id=sse_id))
        assert event is not None
        out.append(event)
    return out


async def record(path: Path, events: list[Any], **kwargs: Any) -> None:
    await reactivex.from_iterable(events).pipe(aop.to_sink(sinks.JSONL(path, **kwargs)))


async def test_every_line_has_exactly_four_keys_and_the_data_as_received(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    await record(path, received())
    lines = path.read_text().splitlines()
    assert len(lines) == len(FRAMES)
    for line, (sse_id, name, data) in zip(lines, FRAMES, strict=True):
        record_ = json.loads(line)
        assert set(record_) == RECORD_KEYS
        assert record_["id"] == sse_id
        assert record_["event"] == name  # "message" for the frame without event:
        assert record_["data"] == json.loads(data)  # keys and values as received
        assert list(record_["data"]) == list(json.loads(data))  # in the same order
        assert record_["receivedAt"].endswith("Z")


async def test_samples_are_not_recorded_and_a_later_run_appends(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    sink = sinks.JSONL(path)
    await reactivex.from_iterable(run_events("ja", 2)).pipe(aop.to_sink(sink))
    samples = ax.SamplesAnswered(job_id="jb", step=1, samples=(ax.Sample("p", "a"),))
    await reactivex.from_iterable([samples, *run_events("jb", 2)]).pipe(aop.to_sink(sink))
    jobs = [json.loads(line)["data"]["jobId"] for line in path.read_text().splitlines()]
    assert jobs == ["ja"] * 4 + ["jb"] * 4


async def test_replay_gives_back_the_recorded_events(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    events = received()
    await record(path, events)
    replayed = await ax.replay(path).pipe(ops.to_list())
    assert replayed == events
    assert [e.event_id for e in replayed] == [e.event_id for e in events]


def test_replay_without_a_loop_runs_on_the_current_thread(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    asyncio.run(record(path, received()))
    assert ax.replay(path).pipe(ops.count()).run() == len(FRAMES)


def _timed_file(path: Path, offsets: list[float]) -> None:
    lines = []
    for i, offset in enumerate(offsets, start=1):
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1_700_000_000 + int(offset)))
        frac = f"{offset % 1:.6f}"[1:]
        data = {"type": "training.log", "jobId": "j1", "step": i, "loss": 1.0}
        lines.append(
            json.dumps(
                {
                    "id": str(i),
                    "event": "training.log",
                    "data": data,
                    "receivedAt": f"{stamp}{frac}Z",
                }
            )
        )
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("speed", "expected"), [(1.0, [0, 2, 3, 7.5]), (10.0, [0, 0.2, 0.3, 0.75])]
)
def test_recorded_timing_in_virtual_time(
    tmp_path: Path, speed: float, expected: list[float]
) -> None:
    path = tmp_path / "timed.jsonl"
    _timed_file(path, [10.0, 12.0, 13.0, 17.5])
    scheduler = TestScheduler()
    seen: list[tuple[float, Any]] = []
    done: list[float] = []
    ax.replay(path, speed=speed, scheduler=scheduler).subscribe(
        lambda e: seen.append((scheduler.clock, e.step)),  # type: ignore[union-attr]
        on_completed=lambda: done.append(scheduler.clock),
    )
    scheduler.start()
    assert [step for _, step in seen] == [1, 2, 3, 4]
    assert [t for t, _ in seen] == pytest.approx(expected)
    assert done == pytest.approx([expected[-1]])  # completes with the last event


def test_as_fast_as_possible_emits_everything_at_subscription_time(tmp_path: Path) -> None:
    path = tmp_path / "timed.jsonl"
    _timed_file(path, [0.0, 5.0, 60.0])
    scheduler = TestScheduler()
    seen: list[float] = []
    scheduler.advance_to(3.0)
    ax.replay(path, scheduler=scheduler).subscribe(lambda _e: seen.append(scheduler.clock))
    scheduler.start()
    assert seen == [3.0, 3.0, 3.0]


def test_a_bad_line_emits_the_events_before_then_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    _timed_file(path, [0.0, 1.0, 2.0])
    text = path.read_text().splitlines()
    text.insert(
        2,
        '{"id": "x", "event": "training.log", "data": {"type": "training.log"}, '
        '"receivedAt": "2026-01-01T00:00:00Z"}',
    )
    path.write_text("\n".join(text) + "\n")
    seen: list[Any] = []
    errors: list[Exception] = []
    ax.replay(path).subscribe(seen.append, errors.append)
    assert [e.step for e in seen] == [1, 2]
    (error,) = errors
    assert isinstance(error, ReplayError)
    assert isinstance(error, ConfigError)
    assert (error.path, error.line) == (str(path), 3)
    assert f"{path}, line 3: data is not a valid event" in str(error)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not JSON"),
        ('{"id": null, "event": "x", "data": {}}', "expected an object with the keys"),
        ('{"id": 3, "event": "x", "data": {}, "receivedAt": "t"}', "id must be a string or null"),
        ('{"id": null, "event": "x", "data": [], "receivedAt": "t"}', "data is not a JSON object"),
    ],
)
def test_bad_lines_say_what_is_wrong(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    errors: list[Exception] = []
    ax.replay(path).subscribe(on_error=errors.append)
    assert f"line 1: {message}" in str(errors[0])


def test_a_bad_time_is_an_error_only_when_timing_is_asked(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    data = {"type": "training.log", "jobId": "j1", "step": 1}
    path.write_text(
        json.dumps({"id": None, "event": "m", "data": data, "receivedAt": "soon"}) + "\n"
    )
    assert ax.replay(path).pipe(ops.count()).run() == 1
    errors: list[Exception] = []
    scheduler = TestScheduler()
    ax.replay(path, speed=1.0, scheduler=scheduler).subscribe(on_error=errors.append)
    scheduler.start()
    assert "receivedAt 'soon' is not an ISO-8601 time" in str(errors[0])


def test_a_truncated_last_line_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cut.jsonl"
    _timed_file(path, [0.0, 1.0])
    with path.open("a") as handle:
        handle.write('{"id": "3", "event": "training.log", "data": {"type": "trai')
    with caplog.at_level(logging.WARNING, logger="arkor_rx.replay"):
        out = ax.replay(path).pipe(ops.to_list()).run()
    assert [e.step for e in out] == [1, 2]  # type: ignore[union-attr]
    assert "line 3: truncated last line skipped" in caplog.text


def test_missing_file_and_bad_speed(tmp_path: Path) -> None:
    errors: list[Exception] = []
    ax.replay(tmp_path / "nope.jsonl").subscribe(on_error=errors.append)
    assert isinstance(errors[0], ReplayError)
    assert "cannot read recording" in str(errors[0])
    for speed in (0, -1.0, float("nan"), True):
        with pytest.raises(ConfigError, match="replay speed must be a positive number"):
            ax.replay(tmp_path / "x", speed=speed)


WRITER = """
import asyncio, sys
from reactivex.subject import Subject
from arkor_rx import operators as aop, sinks
from arkor_rx.events import TrainingLog

async def main():
    feed = Subject()
    feed.pipe(aop.to_sink(sinks.JSONL(sys.argv[1]))).subscribe()
    step = 0
    while True:
        step += 1
        feed.on_next(TrainingLog(type="training.log", job_id="j1", step=step, loss=1.0 / step))
        await asyncio.sleep(0.001)

asyncio.run(main())
"""


def test_a_killed_recorder_leaves_a_file_readable_to_its_last_full_line(tmp_path: Path) -> None:
    path = tmp_path / "killed.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
    try:
        deadline = time.monotonic() + 60
        while not (path.exists() and path.read_text().count("\n") >= 50):
            assert proc.poll() is None, "the writer died on its own"
            assert time.monotonic() < deadline, "the writer wrote nothing"
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    full = path.read_text().count("\n")
    out = ax.replay(path).pipe(ops.to_list()).run()
    assert len(out) >= full >= 50
    assert [e.step for e in out] == list(range(1, len(out) + 1))  # type: ignore[union-attr]
