"""Attack: a recording is hostile input (ax.replay and ``arkor-rx replay``).

Every case ends with the events before the bad line, then a ReplayError naming
the file and the line, in bounded memory, with the event loop never stalled;
the CLI says it in one line.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import reactivex
from reactivex.testing import TestScheduler

import arkor_rx as ax
from arkor_rx._read_ahead import ReadAhead
from arkor_rx.cli import EXIT_ERROR, EXIT_OK, main
from arkor_rx.replay import MAX_LINE_BYTES, ReplayError

replay_module = importlib.import_module("arkor_rx.replay")  # ax.replay, the function, hides it


def _line(step: int, received: str = "2026-01-01T00:00:00+00:00") -> bytes:
    data = {"type": "training.log", "jobId": "j1", "step": step, "loss": 1.0}
    record = {"id": str(step), "event": "training.log", "data": data, "receivedAt": received}
    return json.dumps(record).encode() + b"\n"


def _recording(path: Path, bad: bytes, *, after: bool = True) -> Path:
    """Two good lines, the bad one (line 3), and a good line after it."""
    path.write_bytes(_line(1) + _line(2) + bad + (b"\n" + _line(4) if after else b""))
    return path


def _run(source: reactivex.Observable[Any]) -> tuple[list[int], list[Exception], int]:
    steps: list[int] = []
    errors: list[Exception] = []
    done: list[bool] = []
    source.subscribe(lambda e: steps.append(e.step), errors.append, lambda: done.append(True))
    return steps, errors, len(done)


async def _run_async(
    source: reactivex.Observable[Any], subscribed: Callable[[], object] = lambda: None
) -> tuple[list[int], list[Exception]]:
    """Subscribe on the running loop (the recording is read off it) until it ends;
    ``subscribed`` is called on the loop once subscribing returned to it."""
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()
    steps: list[int] = []
    errors: list[Exception] = []

    def end(error: Exception | None = None) -> None:
        if error is not None:
            errors.append(error)
        ended.set_result(None)

    source.subscribe(lambda e: steps.append(e.step), end, end)
    loop.call_soon(subscribed)
    await asyncio.wait_for(ended, 60)
    return steps, errors


BAD_LINES = {
    "invalid UTF-8": (b'{"id": "3", "event": "x\xff\xfe"}', "not UTF-8"),
    "binary junk": (bytes(b for b in range(256) if b != 10) * 4, "not UTF-8"),
    "nested 100,000 deep": (b"[" * 100_000 + b"]" * 100_000, "JSON nested too deeply"),
    "nested data 100,000 deep": (
        b'{"id": null, "event": "e", "receivedAt": "t", "data": '
        + b'{"a":' * 100_000
        + b"1"
        + b"}" * 100_001,
        "JSON nested too deeply",
    ),
}


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_a_bad_line_ends_the_replay_after_the_events_before_it(tmp_path: Path, case: str) -> None:
    bad, message = BAD_LINES[case]
    path = _recording(tmp_path / "r.jsonl", bad)
    steps, errors, completed = _run(ax.replay(path))
    assert steps == [1, 2]
    assert completed == 0
    (error,) = errors
    assert isinstance(error, ReplayError)
    assert (error.path, error.line) == (str(path), 3)
    assert f"{path}, line 3: {message}" in str(error)


@pytest.mark.parametrize("case", list(BAD_LINES))
async def test_a_bad_line_on_the_loop_ends_the_replay_too(tmp_path: Path, case: str) -> None:
    bad, message = BAD_LINES[case]
    path = _recording(tmp_path / "r.jsonl", bad)
    steps, errors = await _run_async(ax.replay(path))
    assert steps == [1, 2]
    (error,) = errors
    assert isinstance(error, ReplayError)
    assert error.line == 3
    assert message in str(error)


@pytest.mark.parametrize("on_loop", [False, True])
async def test_times_years_apart_at_speed_1_are_an_error_not_an_overflow(
    tmp_path: Path, on_loop: bool
) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(
        _line(1, "0001-01-01T00:00:00+00:00")
        + _line(2, "0001-01-01T00:00:00.001000+00:00")
        + _line(3, "9999-12-31T23:59:59+00:00")
    )
    if on_loop:
        steps, errors = await _run_async(ax.replay(path, speed=1.0))
    else:
        scheduler = TestScheduler()
        steps, errors, _ = _run(ax.replay(path, speed=1.0, scheduler=scheduler))
        scheduler.start()
    assert steps == [1, 2]
    (error,) = errors
    assert isinstance(error, ReplayError)
    assert error.line == 3
    assert "too far to schedule at speed 1" in str(error)


def test_a_time_past_the_calendar_is_a_bad_line(tmp_path: Path) -> None:
    path = _recording(tmp_path / "r.jsonl", _line(3, "0000-01-01T00:00:00")[:-1])
    scheduler = TestScheduler()
    steps, errors, _ = _run(ax.replay(path, speed=1.0, scheduler=scheduler))
    scheduler.start()
    assert steps == [1, 2]
    assert "line 3: receivedAt '0000-01-01T00:00:00' is not an ISO-8601 time" in str(errors[0])


def test_a_line_past_the_limit_is_an_error_read_in_bounded_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = 64 * 1024
    monkeypatch.setattr(replay_module, "MAX_LINE_BYTES", limit)
    path = _recording(tmp_path / "r.jsonl", b'{"id": "' + b"x" * (limit * 64))  # 4 MiB
    tracemalloc.start()
    try:
        steps, errors, _ = _run(ax.replay(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert steps == [1, 2]
    assert f"line 3: longer than {limit} bytes" in str(errors[0])
    assert peak < 8 * limit  # the line is 64 times the limit
    # A line of exactly the limit (its newline not counted) is still read.
    exact = _line(5)
    exact = exact[:-2] + b" " * (limit - len(exact) + 1) + b"}\n"
    assert len(exact) == limit + 1
    (tmp_path / "ok.jsonl").write_bytes(exact)
    assert _run(ax.replay(tmp_path / "ok.jsonl"))[0] == [5]


def test_dev_zero_is_refused_at_the_documented_limit_in_bounded_memory() -> None:
    tracemalloc.start()
    try:
        steps, errors, _ = _run(ax.replay("/dev/zero"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert steps == []
    assert str(errors[0]) == (
        f"/dev/zero, line 1: longer than {MAX_LINE_BYTES} bytes (the limit of a line)"
    )
    assert MAX_LINE_BYTES == 16 * 1024 * 1024
    assert peak < 3 * MAX_LINE_BYTES


async def test_a_fifo_never_stalls_the_loop(tmp_path: Path) -> None:
    fifo = tmp_path / "r.fifo"
    os.mkfifo(fifo)
    loop_alive = threading.Event()
    stalled: list[bool] = []

    def writer() -> None:
        # Writes once the loop has shown it runs after the subscription; a loop
        # frozen in open() would be freed after 30 s and the test would fail.
        stalled.append(not loop_alive.wait(30))
        with fifo.open("wb") as handle:
            handle.write(_line(1) + _line(2) + b"\xff\n" + _line(4))

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    # loop_alive is set only once subscribing returned to the loop.
    steps, errors = await _run_async(ax.replay(fifo), loop_alive.set)
    thread.join(30)
    assert stalled == [False]
    assert steps == [1, 2]
    assert "line 3: not UTF-8" in str(errors[0])


async def test_disposing_a_replay_of_a_fifo_nobody_writes_to(tmp_path: Path) -> None:
    fifo = tmp_path / "r.fifo"
    os.mkfifo(fifo)
    seen: list[object] = []
    subscription = ax.replay(fifo).subscribe(seen.append, seen.append, lambda: seen.append("done"))
    await asyncio.sleep(0)
    subscription.dispose()
    # Free the reader thread blocked in open(): it sees it was disposed and ends quietly.
    descriptor = os.open(fifo, os.O_WRONLY)
    os.write(descriptor, _line(1))
    os.close(descriptor)
    await asyncio.sleep(0)
    assert seen == []


def test_the_cli_replays_a_fifo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "r.fifo"
    os.mkfifo(fifo)

    def writer() -> None:
        with fifo.open("wb") as handle:
            handle.write(_line(1) + _line(2))

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    status = main(["replay", str(fifo), "--no-live"])
    thread.join(30)
    assert "step 2" in capsys.readouterr().out
    assert status == EXIT_ERROR  # the recording ended before the run did


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_the_cli_says_a_bad_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    bad, message = BAD_LINES[case]
    path = _recording(tmp_path / "r.jsonl", bad)
    assert main(["replay", str(path), "--no-live"]) == EXIT_ERROR
    out = capsys.readouterr()
    assert "step 2" in out.out  # the events before the bad line were shown
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    assert lines[0].startswith(f"arkor-rx: error: {path}, line 3: {message}")


@pytest.mark.parametrize("what", ["directory", "missing", "dev-zero"])
def test_the_cli_says_an_unreadable_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], what: str
) -> None:
    target = {"directory": str(tmp_path), "missing": str(tmp_path / "no"), "dev-zero": "/dev/zero"}
    assert main(["replay", target[what], "--no-live"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("arkor-rx: error: ")
    assert "Traceback" not in err


@pytest.mark.parametrize("how", ["same path", "hard link", "symlink"])
@pytest.mark.parametrize("flag", ["--record", "--csv", "--mlflow sqlite"])
def test_replay_refuses_to_write_a_file_over_its_own_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str, flag: str
) -> None:
    path = tmp_path / "r.jsonl"
    content = b"".join(_line(n) for n in range(1, 200))
    path.write_bytes(content)
    target = tmp_path / "other.jsonl"
    if how == "same path":
        target = path
    elif how == "hard link":
        os.link(path, target)
    else:
        target.symlink_to(path)
    name, value = flag.split()[0], str(target)
    if flag == "--mlflow sqlite":
        value = f"sqlite:///{target}"
    assert main(["replay", str(path), "--no-live", name, value]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err == (
        f"arkor-rx: error: {name} {value}: is {path}, the file being read"
        " (it would be overwritten)\n"
    )
    assert path.read_bytes() == content


@pytest.mark.parametrize("flag", ["--tensorboard", "--mlflow", "--mlflow file"])
@pytest.mark.parametrize("depth", ["its folder", "a folder above"])
def test_replay_refuses_to_write_a_folder_holding_its_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, depth: str
) -> None:
    path = tmp_path / "runs" / "r.jsonl"
    path.parent.mkdir()
    content = b"".join(_line(n) for n in range(1, 20))
    path.write_bytes(content)
    folder = path.parent if depth == "its folder" else tmp_path
    name, value = flag.split()[0], str(folder)
    if flag == "--mlflow file":
        value = folder.as_uri()
    assert main(["replay", str(path), "--no-live", name, value]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err == (
        f"arkor-rx: error: {name} {value}: holds {path}, the file being read"
        " (give the sink another folder)\n"
    )
    assert list(path.parent.iterdir()) == [path]  # nothing was written beside it
    assert path.read_bytes() == content


def test_replay_writes_a_sink_beside_its_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.jsonl"
    done = {"type": "training.completed", "jobId": "j1"}
    end = {"id": "20", "event": done["type"], "data": done, "receivedAt": "2026-01-01T00:00:00Z"}
    path.write_bytes(b"".join(_line(n) for n in range(1, 20)) + json.dumps(end).encode())
    csv = tmp_path / "r.csv"
    assert main(["replay", str(path), "--no-live", "--csv", str(csv)]) == EXIT_OK
    assert len(csv.read_text().splitlines()) == 20  # the header and 19 steps


async def test_the_reader_waits_at_its_budget() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for n in range(1000):
            produced.append(n)
            yield n

    ahead = ReadAhead(source, asyncio.get_running_loop(), "t", cost=lambda n: 2, budget=8)
    try:
        for _ in range(3000):  # bounded: until the reader holds item 4 (it has room for 0-3)
            if len(produced) >= 5:
                break
            await asyncio.sleep(0.01)
        assert ahead.take(1000, lambda: None) == [0, 1, 2, 3]  # not one more was read ahead
    finally:
        ahead.close()
