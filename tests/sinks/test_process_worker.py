"""The sink worker process: a real child, its results read back from the files it wrote."""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import reactivex

from arkor_rx import operators as aop
from arkor_rx import sinks
from arkor_rx.errors import ConfigError
from arkor_rx.events import (
    TrainingCompleted,
    TrainingLog,
    TrainingStarted,
    UnknownEvent,
    parse_batch,
    parse_event,
    wire_data,
)
from arkor_rx.jobs import TrainingJob
from arkor_rx.samples import Sample, SamplesAnswered
from arkor_rx.sinks import Outcome, SinkItem
from arkor_rx.sinks._common import MissingExtraError
from arkor_rx.sinks._process import (
    ProcessProxy,
    SinkWorkerError,
    _current,
    _Worker,
    decode_batch,
    encode_batch,
    isolated,
    isolation_of,
    process_proxy,
    worker_env,
)
from arkor_rx.sse import ServerSentEvent, SSEDecoder
from arkor_rx.stopping import StopDecision
from tests.sinks.process_sinks import (
    FAIL_STEP,
    ODD_STEP,
    Chatty,
    FileRecorder,
    Gated,
    open_gate,
    read_records,
)
from tests.sinks.test_tensorboard_csv import read, scalars

JOB = TrainingJob(id="j1", name="support-bot")


def frames(*blocks: str) -> list[Any]:
    """The events of SSE blocks (``"id: 1\\nevent: ...\\ndata: ..."``), parsed as a stream's."""
    chunk = "".join(block + "\n\n" for block in blocks).encode()
    return parse_batch(SSEDecoder().feed_frames(chunk)).events


def log_frames(steps: range, job_id: str = "j1") -> list[Any]:
    return frames(
        *(
            f'id: {s}\nevent: training.log\ndata: {{"type":"training.log","jobId":"{job_id}",'
            f'"step":{s},"loss":{1.0 / (s + 1)},"learningRate":0.0002}}'
            for s in steps
        )
    )


def worker_pid() -> int:
    worker = _current()
    assert worker is not None
    return worker.pid


def assert_same_items(got: Sequence[Any], sent: Sequence[Any]) -> None:
    assert got == sent
    for mine, theirs in zip(got, sent, strict=True):
        assert type(mine) is type(theirs)
        if not isinstance(theirs, SamplesAnswered):
            # == compares the fields only: the SSE name and id live in __dict__ too.
            assert mine.__dict__ == theirs.__dict__


def mixed_batch() -> list[SinkItem]:
    wire = frames(
        'id: 1\nevent: training.started\ndata: {"type":"training.started","jobId":"j1"}',
        'id: 2\nevent: training.log\ndata: {"type":"training.log","jobId":"j1","step":1}',
        # no event: field: the SSE name ("message") differs from the type
        'id: 3\ndata: {"type":"training.log","jobId":"j1","step":2,"loss":2.25}',
        'id: 4\nevent: custom.thing\ndata: {"type":"custom.thing","jobId":"j1","x":[1,2]}',
        'id: 5\nevent: other\ndata: {"type":"custom.thing","jobId":"j1","y":1}',
        'id:\nevent: training.log\ndata: {"type":"training.log","jobId":"j1","step":3}',
    )
    assert wire[2].__dict__["sse_event"] == "message"
    assert isinstance(wire[3], UnknownEvent)
    assert wire[5].event_id is None
    built = TrainingLog(job_id="j1", step=4, loss=1.5, event_id="py-1")
    samples = SamplesAnswered(job_id="j1", step=4, samples=(Sample("Hi?", "Hello"),))
    return [*wire[:3], built, wire[3], samples, wire[4], wire[5]]


def test_batches_cross_as_frame_text_and_come_back_equal() -> None:
    wire = log_frames(range(50))
    assert all(wire_data(e) is not None for e in wire)
    assert_same_items(decode_batch(encode_batch(wire)), wire)
    mixed = mixed_batch()
    assert_same_items(decode_batch(encode_batch(mixed)), mixed)
    # An id holding a NUL (from the JSON, not an SSE id): the ids cross as a list.
    data = '{"type":"training.log","step":1,"eventId":"a\\u0000b"}'
    odd_event = parse_event(ServerSentEvent(event="training.log", data=data))
    assert odd_event is not None
    odd = [odd_event]
    assert odd[0].event_id == "a\x00b"
    assert_same_items(decode_batch(encode_batch(odd)), odd)
    assert decode_batch(encode_batch([])) == []
    # One class throughout, each with the SSE name "message"; unknown types only.
    unnamed = frames(*(f'data: {{"type":"training.log","step":{s}}}' for s in range(5)))
    assert {e.__dict__["sse_event"] for e in unnamed} == {"message"}
    assert_same_items(decode_batch(encode_batch(unnamed)), unnamed)
    unknown = frames(
        'event: a.b\ndata: {"type":"a.b","n":1}',
        'event: other\ndata: {"type":"a.b","n":2}',
        'event: c.d\ndata: {"type":"c.d"}',
    )
    assert [type(e) for e in unknown] == [UnknownEvent] * 3
    assert_same_items(decode_batch(encode_batch(unknown)), unknown)
    assert_same_items(decode_batch(encode_batch(unknown[::2])), unknown[::2])


async def test_tensorboard_writes_in_the_worker_and_reads_back(tmp_path: Path) -> None:
    tb = sinks.TensorBoard(tmp_path / "runs")
    assert tb.isolation == "process"
    proxy = process_proxy(tb)
    assert isinstance(proxy, ProcessProxy)
    assert process_proxy(tb) is proxy  # one proxy per sink instance
    assert isolated(tb) is proxy
    await proxy.open(JOB)
    events = log_frames(range(0, 300, 10))
    await proxy.write(events[:16])
    await proxy.write(events[16:])
    await proxy.write([SamplesAnswered(job_id="j1", step=20, samples=(Sample("Hi?", "Hello"),))])
    await proxy.write([TrainingCompleted(job_id="j1", metrics={"train_runtime": 3.0})])
    await proxy.close(Outcome("completed", job_id="j1", job=JOB))
    assert worker_pid() != os.getpid()
    assert not tb._runs  # the parent's copy opened no writer
    acc = read(Path(tb.run_dir(JOB)))
    loss = scalars(acc, "train/loss")
    assert [s for s, _ in loss] == list(range(0, 300, 10))
    assert [v for _, v in loss] == pytest.approx([1.0 / (s + 1) for s in range(0, 300, 10)])
    assert [s for s, _ in scalars(acc, "train/learning_rate")] == list(range(0, 300, 10))
    assert scalars(acc, "final/train_runtime")[0][1] == 3.0
    (text,) = acc.Tensors("samples/text_summary")
    assert text.step == 20


async def test_tensorboard_through_to_sink_counts_in_the_parents_stats(tmp_path: Path) -> None:
    tb = sinks.TensorBoard(tmp_path / "runs", overflow="block")
    events = [TrainingStarted(job_id="j2"), *log_frames(range(5), "j2")]
    events.append(TrainingCompleted(job_id="j2"))
    await reactivex.from_iterable(events).pipe(aop.to_sink(process_proxy(tb), name="bot"))
    assert tb.stats.written == 7
    assert tb.stats.errors == 0
    acc = read(tmp_path / "runs" / "bot-j2")
    assert [s for s, _ in scalars(acc, "train/loss")] == [0, 1, 2, 3, 4]


async def test_a_mixed_batch_arrives_in_the_child_equal_and_in_order(tmp_path: Path) -> None:
    recorder = FileRecorder(tmp_path / "calls.pickle")
    proxy = process_proxy(recorder)
    batch = mixed_batch()
    await proxy.open(JOB)
    await proxy.write(batch)
    await proxy.write(log_frames(range(100, 400)))
    await proxy.close(Outcome("stopped", job_id="j1"))
    (opened, first, second, closed) = read_records(recorder.path)
    assert opened[:2] == ("open", JOB)
    assert first[0] == "write"
    assert_same_items(first[1], batch)
    assert_same_items(second[1], log_frames(range(100, 400)))
    assert closed[:2] == ("close", Outcome("stopped", job_id="j1"))
    assert {opened[2], first[2], closed[2]} == {worker_pid()}


async def test_an_error_in_the_child_is_raised_again_in_the_parent(tmp_path: Path) -> None:
    recorder = FileRecorder(tmp_path / "calls.pickle")
    proxy = process_proxy(recorder)
    await proxy.open(JOB)
    with pytest.raises(NotADirectoryError, match=f"no folder for step {FAIL_STEP}") as info:
        await proxy.write(log_frames(range(FAIL_STEP, FAIL_STEP + 3)))
    assert any("sink worker process" in note for note in info.value.__notes__)
    with pytest.raises(SinkWorkerError) as odd:
        await proxy.write(log_frames(range(ODD_STEP, ODD_STEP + 1)))
    assert str(odd.value) == "Unpicklable: odd: keyword-only"
    await proxy.write(log_frames(range(20, 22)))  # the sink goes on
    await proxy.close(Outcome("completed", job_id="j1"))
    ops = [
        (op, [e.step for e in arg] if op == "write" else None)
        for op, arg, _ in read_records(recorder.path)
    ]
    assert ops == [("open", None), ("write", [20, 21]), ("close", None)]


def test_one_worker_serves_every_loop_and_every_sink(tmp_path: Path) -> None:
    first = FileRecorder(tmp_path / "first.pickle")
    second = FileRecorder(tmp_path / "second.pickle")

    async def run(job_id: str) -> int:
        for sink in (first, second):
            proxy = process_proxy(sink)
            await proxy.open(TrainingJob(id=job_id))
            await proxy.write(log_frames(range(3), job_id))
            await proxy.close(Outcome("completed", job_id=job_id))
        return worker_pid()

    pids = {asyncio.run(run("a")), asyncio.run(run("b"))}
    assert len(pids) == 1
    recorded = read_records(first.path) + read_records(second.path)
    assert len(recorded) == 12
    assert {pid for _, _, pid in recorded} == pids
    assert os.getpid() not in pids


async def test_a_killed_worker_fails_its_runs_and_the_next_open_starts_another(
    tmp_path: Path,
) -> None:
    recorder = FileRecorder(tmp_path / "calls.pickle")
    proxy = process_proxy(recorder)
    await proxy.open(JOB)
    old = worker_pid()
    os.kill(old, signal.SIGKILL)
    with pytest.raises(SinkWorkerError, match=rf"exited \(code -{int(signal.SIGKILL)}\)"):
        await proxy.write(log_frames(range(2)))
    with pytest.raises(SinkWorkerError, match="exited"):
        await proxy.close(Outcome("error", job_id="j1"))
    await proxy.open(TrainingJob(id="j2"))
    assert worker_pid() != old
    await proxy.write(log_frames(range(2), "j2"))
    await proxy.close(Outcome("completed", job_id="j2"))
    records = read_records(recorder.path)
    assert [op for op, _, _ in records] == ["open", "open", "write", "close"]
    assert records[0][2] == old
    assert {pid for _, _, pid in records[1:]} == {worker_pid()}


class _Locked(FileRecorder):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.lock = threading.Lock()  # cannot be pickled


async def test_a_sink_that_cannot_be_sent_runs_on_the_loop_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = _Locked(tmp_path / "calls.pickle")
    with caplog.at_level(logging.WARNING, logger="arkor_rx.sinks"):
        assert process_proxy(locked) is locked
        assert process_proxy(locked) is locked
    (record,) = caplog.records
    assert "runs on the event loop" in record.getMessage()
    assert "lock" in record.getMessage()

    # A class from __main__ pickles in this process but not in the child: refused too.
    main_class = type("MainRecorder", (FileRecorder,), {"__module__": "__main__"})
    monkeypatch.setattr(sys.modules["__main__"], "MainRecorder", main_class, raising=False)
    main_sink = main_class(tmp_path / "main.pickle")
    pickle.dumps(main_sink)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="arkor_rx.sinks"):
        assert process_proxy(main_sink) is main_sink
    (record,) = caplog.records
    assert "MainRecorder is defined in __main__" in record.getMessage()
    await locked.open(JOB)  # on the loop, as ever
    assert read_records(locked.path)[0][2] == os.getpid()


def test_isolation_is_validated_and_defaults_to_the_loop(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match="TensorBoard: isolation must be 'loop' or 'process', not 'thread'"
    ):
        sinks.TensorBoard(tmp_path, isolation="thread")  # type: ignore[arg-type]
    in_loop = sinks.TensorBoard(tmp_path, isolation="loop")
    assert isolated(in_loop) is in_loop

    class Odd:
        name = "odd-sink"
        isolation = "elsewhere"

    with pytest.raises(ConfigError, match=r"odd-sink: .*'elsewhere'"):
        isolation_of(Odd())
    assert isolation_of(object()) == "loop"


def test_a_pickled_tensorboard_keeps_its_config_only(tmp_path: Path) -> None:
    tb = sinks.TensorBoard(tmp_path / "runs", overflow="block", buffer_size=7)
    tb.stats.written = 3
    copy = pickle.loads(pickle.dumps(tb))
    assert (copy.logdir, copy.overflow, copy.buffer_size, copy.isolation) == (
        tb.logdir,
        "block",
        7,
        "process",
    )
    assert copy.stats.written == 0
    assert copy.run_dir(JOB) == tb.run_dir(JOB)


async def test_a_print_in_the_child_does_not_corrupt_the_replies(tmp_path: Path) -> None:
    chatty = Chatty(tmp_path / "calls.pickle")
    proxy = process_proxy(chatty)
    await proxy.open(JOB)
    for start in range(0, 30, 10):
        await proxy.write(log_frames(range(start, start + 10)))
    await proxy.close(Outcome("completed", job_id="j1"))
    writes = [arg for op, arg, _ in read_records(chatty.path) if op == "write"]
    assert [e.step for batch in writes for e in batch] == list(range(30))


def test_the_worker_exits_cleanly_when_its_input_ends() -> None:
    worker = _Worker()
    assert worker.alive
    worker.stop(timeout=30)
    assert worker.proc.returncode == 0


async def test_a_sink_waiting_in_the_child_does_not_hold_up_another(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "gate")
    gated = process_proxy(Gated(tmp_path / "gated.pickle", tmp_path / "gate"))
    other = FileRecorder(tmp_path / "other.pickle")
    await gated.open(JOB)
    held = asyncio.ensure_future(gated.write(log_frames(range(3))))
    proxy = process_proxy(other)
    await proxy.open(JOB)
    await proxy.write(log_frames(range(5)))
    stop = StopDecision(rule="patience", reason="no better loss for 3 evals", step=4)
    await proxy.close(Outcome("stopped", job_id="j1", stop=stop))
    assert not held.done()
    assert [op for op, _, _ in read_records(other.path)] == ["open", "write", "close"]
    assert read_records(other.path)[-1][1].stop == stop
    await asyncio.to_thread(open_gate, tmp_path / "gate")
    await held
    await gated.close(Outcome("completed", job_id="j1"))
    assert [op for op, _, _ in read_records(tmp_path / "gated.pickle")] == [
        "open",
        "write",
        "close",
    ]


def test_an_isolated_tensorboard_does_not_import_tensorboardx_in_your_process() -> None:
    code = (
        "import sys\n"
        "from arkor_rx import sinks\n"
        "sink = sinks.TensorBoard('unused-logdir')\n"
        "print(sink.isolation, 'tensorboardX' in sys.modules, 'numpy' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == ["process", "False", "False"]


def test_a_tensorboard_without_its_extra_names_the_pip_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "tensorboardX" else real(name, *args),
    )
    with pytest.raises(MissingExtraError, match=r"pip install arkor_rx\[tensorboard\]"):
        sinks.TensorBoard(tmp_path)


def test_the_worker_runs_without_the_token_and_with_one_blas_thread() -> None:
    env = worker_env({"ARKOR_TOKEN": "tok-5ecret", "OPENBLAS_NUM_THREADS": "3"}, ["/a", "", "/a"])
    assert "ARKOR_TOKEN" not in env
    assert env["OPENBLAS_NUM_THREADS"] == "3"  # yours is kept
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"
    assert env["PYTHONPATH"].split(os.pathsep) == ["/a", os.getcwd()]
