"""``to_sink`` fused with the event stream: whole batches, the frames' columns, same results.

Applied right on an ``observe_async`` Observable (what ``trainer.events()``
is), ``to_sink`` takes each network read's events at once (Rule 3 of
``arkor_rx.operators._to_sink``). These tests pin that the sinks see exactly
what they see through the unfused path (an operator in between), item for
item and byte for byte in the recording, and where the stream stops inside a
batch (a ``take``, an observer that raises).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
import reactivex
from hypothesis import given, settings
from hypothesis import strategies as st
from reactivex import operators as ops

from arkor_rx import operators as aop
from arkor_rx import sinks
from arkor_rx._observe import Pumped, observe_async
from arkor_rx.events import parse_batch
from arkor_rx.jobs import TrainingJob
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.sinks import _jsonl
from arkor_rx.sinks._base import WireBatch
from arkor_rx.sse import SSEDecoder
from arkor_rx.stream import EventStream
from tests.sinks.sink_helpers import RecordingSink

NOW = "2026-01-01T00:00:00.000000Z"

Columns = tuple[list[str | None], list[str], list[str]]


def ids_of(items: Sequence[Any]) -> list[str | None]:
    return [item.event_id for item in items]


class _Response:
    def __init__(self, chunks: Sequence[bytes]) -> None:
        self._chunks = list(chunks)

    async def read_chunk(self) -> bytes:
        await asyncio.sleep(0)  # a network read: the loop turns between chunks
        return self._chunks.pop(0) if self._chunks else b""

    async def aclose(self) -> None:
        return None


class _Source:
    """Serves the same chunks on each connection (the stream resumes, then ends)."""

    def __init__(self, chunks: Sequence[bytes]) -> None:
        self.chunks = chunks

    async def open_event_stream(self, job_id: str, *, last_event_id: str | None = None) -> Any:
        return _Response(self.chunks)


def events_of(chunks: Sequence[bytes]) -> Pumped[Any]:
    async def open_stream() -> EventStream:
        policy = ReconnectPolicy(max_attempts=1, initial_delay=0.0, jitter=0.0)
        return EventStream(_Source(chunks), "j1", policy)

    source = observe_async(open_stream)
    assert isinstance(source, Pumped)
    return source


def frame(event_id: str | None, name: str | None, data: str) -> bytes:
    lines = [] if event_id is None else [f"id: {event_id}"]
    if name is not None:
        lines.append(f"event: {name}")
    lines += [f"data: {line}" for line in data.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


def log_data(i: int, **extra: Any) -> str:
    return json.dumps({"type": "training.log", "jobId": "j1", "step": i, "loss": 1.0 / i, **extra})


def log(i: int, **extra: Any) -> bytes:
    return frame(str(i), "training.log", log_data(i, **extra))


STARTED_DATA = '{"type":"training.started","jobId":"j1"}'
STARTED = frame("0", "training.started", STARTED_DATA)
COMPLETED = frame("99", "training.completed", '{"type": "training.completed", "jobId": "j1"}')

CHUNKS = [
    STARTED + log(1) + b": keepalive\n\n" + log(2, gpu=1),
    log(3) + frame("4", None, '{"type":"training.log","jobId":"j1","step":4}'),  # "message"
    frame("x-5", "training.log", '{"type":"training.log",\n"jobId":"j1","step":5}'),
    log(6) + log(6) + log(7),  # a repeated id in one chunk: planned frame by frame
    log(8) + COMPLETED + log(100),  # the stream ends at the terminal event
]


class EncodingSink(RecordingSink):
    """Keeps what each hand-off was (a WireBatch or a plain list) and writes the events."""

    def __init__(self) -> None:
        super().__init__()
        self.handed: list[list[Any]] = []

    def encode(self, items: list[Any]) -> list[Any]:
        self.handed.append(items)
        return list(items)


class _ClosingJSONL(sinks.JSONL):
    """The recorder, telling when it closed (the output of a disposed to_sink cannot)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.closed = asyncio.Event()

    async def close(self, outcome: sinks.Outcome) -> None:
        await super().close(outcome)
        self.closed.set()


async def run(source: reactivex.Observable[Any], *chosen: Any) -> list[Any]:
    result: list[Any] = await source.pipe(aop.to_sink(*chosen), ops.to_list())
    return result


def lines_without_time(path: Path) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        assert record.pop("receivedAt")
    return records


async def test_fused_and_unfused_sinks_see_the_same_items_outcomes_and_recording(
    tmp_path: Path,
) -> None:
    fused, unfused = RecordingSink(), RecordingSink()
    out_fused = await run(events_of(CHUNKS), fused, sinks.JSONL(tmp_path / "fused.jsonl"))
    out_unfused = await run(
        events_of(CHUNKS).pipe(ops.map(lambda event: event)),  # not right on the stream
        unfused,
        sinks.JSONL(tmp_path / "unfused.jsonl"),
    )
    assert out_fused == out_unfused
    assert [e.event_id for e in out_fused] == ["0", "1", "2", "3", "4", "x-5", "6", "7", "8", "99"]
    assert fused.items == unfused.items == out_fused
    assert [o.kind for o in fused.outcomes()] == [o.kind for o in unfused.outcomes()]
    assert [o.kind for o in fused.outcomes()] == ["completed"]
    records = lines_without_time(tmp_path / "fused.jsonl")
    assert records == lines_without_time(tmp_path / "unfused.jsonl")
    assert [r["id"] for r in records] == [e.event_id for e in out_fused]
    assert records[2]["data"]["gpu"] == 1  # the frame's JSON as received
    assert records[4]["event"] == "message"  # the SSE name, not the type
    assert records[5]["data"]["step"] == 5  # multi-line data: one line, every field


async def test_fused_hand_offs_are_whole_batches_with_columns_aligned_to_their_events() -> None:
    sink = EncodingSink()
    await run(events_of([*CHUNKS[:2], b"event: end\ndata: {}\n\n"]), sink)
    first, second = sink.handed  # one hand-off per network read, never per event
    assert isinstance(first, WireBatch)
    assert isinstance(second, WireBatch)
    assert ids_of(first) == ["0", "1", "2"]  # the keepalive is no event
    assert first.columns == (
        ["0", "1", "2"],
        ["training.started", "training.log", "training.log"],
        [STARTED_DATA, log_data(1), log_data(2, gpu=1)],
    )
    assert ids_of(second) == ["3", "4"]
    assert second.columns == (
        ["3", "4"],
        ["training.log", "message"],
        [log_data(3), '{"type":"training.log","jobId":"j1","step":4}'],
    )


async def test_a_take_inside_a_batch_hands_the_sinks_only_what_went_through(
    tmp_path: Path,
) -> None:
    sink = RecordingSink()
    path = tmp_path / "take.jsonl"
    recorder = _ClosingJSONL(path)
    out = await events_of(CHUNKS).pipe(aop.to_sink(sink, recorder), ops.take(2), ops.to_list())
    # take(2) is after to_sink: the second item disposes the stream inside the first batch.
    assert [e.event_id for e in out] == ["0", "1"]
    await asyncio.wait_for(sink.closed.wait(), 5)
    assert ids_of(sink.items) == ["0", "1"]
    assert [o.kind for o in sink.outcomes()] == ["cancelled"]
    await asyncio.wait_for(recorder.closed.wait(), 5)
    assert [r["id"] for r in lines_without_time(path)] == ["0", "1"]


async def test_an_observer_raising_inside_a_batch_hands_the_sinks_up_to_that_item() -> None:
    sink = RecordingSink()
    seen: list[str | None] = []

    def on_next(event: Any) -> None:
        seen.append(event.event_id)
        if event.event_id == "3":
            raise ValueError("observer broke on 3")

    loop = asyncio.get_running_loop()
    failed: asyncio.Future[BaseException] = loop.create_future()
    events_of(CHUNKS).pipe(aop.to_sink(sink)).subscribe(on_next, failed.set_result)
    error = await asyncio.wait_for(failed, 5)
    assert isinstance(error, ValueError)
    assert seen == ["0", "1", "2", "3"]
    assert ids_of(sink.items) == ["0", "1", "2", "3"]
    (outcome,) = sink.outcomes()
    assert outcome.kind == "error"
    assert outcome.error == "ValueError: observer broke on 3"


def test_batch_columns_skip_keepalives_and_stop_at_the_terminal_event() -> None:
    from arkor_rx._dedupe import Planner

    frames = SSEDecoder().feed_frames(STARTED + b"event: ping\ndata: {}\n\n" + log(1) + COMPLETED)
    batch = Planner(16).plan(frames, parse_batch(frames), None)
    assert [e.event_id for e in batch.events] == ["0", "1", "99"]
    columns = batch.columns()
    assert columns is not None
    ids, names, datas = columns
    assert ids == ["0", "1", "99"]
    assert names == ["training.started", "training.log", "training.completed"]
    assert datas == [frames.data[0], frames.data[2], frames.data[3]]


def test_a_batch_planned_frame_by_frame_has_no_columns() -> None:
    from arkor_rx._dedupe import Planner

    frames = SSEDecoder().feed_frames(log(1) + log(1) + log(2))
    batch = Planner(16).plan(frames, parse_batch(frames), None)
    assert [e.event_id for e in batch.events] == ["1", "2"]
    assert batch.columns() is None


_NAMES = st.sampled_from(
    ["training.log", "training.started", "message", "checkpoint.saved", "custom", 'we"ird', "é"]
)
_IDS = st.one_of(
    st.none(), st.text("0123456789", min_size=1, max_size=4), st.sampled_from(["a-1", "ü2", "x y"])
)


@st.composite
def _frame_bytes(draw: st.DrawFn) -> bytes:
    step = draw(st.integers(0, 10**6))
    kind = draw(st.sampled_from(["training.log", "training.started", "checkpoint.saved"]))
    body: dict[str, Any] = {"type": kind, "jobId": "j1", "step": step}
    if kind == "checkpoint.saved":
        body["artifacts"] = []
    text = json.dumps(body, separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])))
    if draw(st.booleans()):
        text = text.replace(",", ",\n", 1)  # over two data: lines
    name = draw(st.one_of(st.none(), _NAMES))
    event_id = draw(_IDS)
    lines = [] if event_id is None else [f"id: {event_id}"]
    if name is not None:
        lines.append(f"event: {name}")
    lines += [f"data: {line}" for line in text.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


@settings(max_examples=150, deadline=None)
@given(st.lists(_frame_bytes(), min_size=1, max_size=8))
def test_column_lines_are_what_record_line_gives_each_event(chunks: list[bytes]) -> None:
    frames = SSEDecoder().feed_frames(b"".join(chunks))
    parsed = parse_batch(frames)
    events = parsed.events
    if not events:
        return
    columns: Columns = (
        list(parsed.ids),
        [name for name, ok in zip(frames.type, parsed.present, strict=True) if ok],
        [data for data, ok in zip(frames.data, parsed.present, strict=True) if ok],
    )
    text = _jsonl._column_lines(columns, NOW)
    expected = "".join(_jsonl.record_line(event, NOW) or "" for event in events)
    if text is not None:
        assert text == expected
    with patch.object(_jsonl, "received_now", lambda: NOW):
        encoded = sinks.JSONL("unused.jsonl").encode(WireBatch(list(events), columns))
    assert encoded == [expected.encode()]


def test_column_lines_fall_back_on_what_needs_escaping_or_spans_lines() -> None:
    plain: Columns = (["1"], ["training.log"], ['{"type":"training.log"}'])
    assert _jsonl._column_lines(plain, NOW) is not None
    cases: list[Columns] = [
        ([None], ["training.log"], ["{}"]),
        (["a-1"], ["training.log"], ["{}"]),
        (["1"], ['a"b'], ["{}"]),
        (["1"], ["a\\b"], ["{}"]),
        (["1"], ["é"], ["{}"]),
        (["1"], ["\x7f"], ["{}"]),
        (["1"], [""], ["{}"]),
        (["1"], ["training.log"], ['{"a":\n1}']),
    ]
    for columns in cases:
        assert _jsonl._column_lines(columns, NOW) is None, columns


@pytest.mark.parametrize("name", ["custom.event", "message"])
def test_a_name_of_its_own_is_quoted_as_record_line_quotes_it(name: str) -> None:
    columns: Columns = (["7"], [name], ['{"type":"x"}'])
    text = _jsonl._column_lines(columns, NOW)
    assert text is not None
    assert json.loads(text)["event"] == name


async def test_the_recorder_writes_in_its_own_thread_and_returns_once_written(
    tmp_path: Path,
) -> None:
    threads: list[int] = []
    real = _jsonl._write_all

    def spy(handle: Any, chunks: Sequence[bytes]) -> None:
        threads.append(threading.get_ident())
        real(handle, chunks)

    recorder = sinks.JSONL(tmp_path / "run.jsonl")
    with patch.object(_jsonl, "_write_all", spy):
        job = TrainingJob(id="j1")
        await recorder.open(job)
        await recorder.write([line.encode() for line in ('{"a": 1}\n', '{"b": 2}\n')])
        assert (tmp_path / "run.jsonl").read_text() == '{"a": 1}\n{"b": 2}\n'  # written on return
        await recorder.close(sinks.Outcome("completed", job_id="j1"))
    assert threads
    assert threading.get_ident() not in threads  # not the loop's thread
    assert recorder._writer is None  # its thread is shut down with the file
    assert recorder._file is None


async def test_observe_async_over_a_plain_iterator_still_runs_to_sink_item_by_item() -> None:
    from arkor_rx.events import TrainingLog, TrainingStarted
    from arkor_rx.stopping import StopDecision

    async def items() -> Any:
        yield TrainingStarted(job_id="j1")
        yield TrainingLog(job_id="j1", step=1, loss=0.5)
        yield StopDecision(rule="patience", reason="no better for 3 evals", step=1)

    async def open_items() -> Any:
        return items()

    sink = RecordingSink()
    out = await observe_async(open_items).pipe(aop.to_sink(sink), ops.to_list())
    assert [type(item).__name__ for item in out] == [
        "TrainingStarted",
        "TrainingLog",
        "StopDecision",
    ]
    assert [type(item).__name__ for item in sink.items] == ["TrainingStarted", "TrainingLog"]
    (outcome,) = sink.outcomes()
    assert outcome.kind == "stopped"  # the decision was acted on, not handed to the sinks


async def test_the_fused_recorder_builds_its_lines_from_the_columns(tmp_path: Path) -> None:
    def unused(*_: Any) -> str:
        raise AssertionError("the fused path reads the frames' columns, not the events")

    path = tmp_path / "run.jsonl"
    with patch.object(_jsonl, "_plain_lines", unused):
        await run(events_of([STARTED + log(1) + log(2) + COMPLETED]), sinks.JSONL(path))
    assert [r["id"] for r in lines_without_time(path)] == ["0", "1", "2", "99"]


_KEEPALIVE = b": keepalive\n\n"
_PING = b"event: ping\ndata: {}\n\n"
_BAD = b"event: training.log\ndata: {not json\n\n"


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(_frame_bytes(), st.sampled_from([_KEEPALIVE, _PING, _BAD, COMPLETED])),
        min_size=1,
        max_size=12,
    )
)
def test_a_planned_batchs_columns_give_what_record_line_gives_its_events(
    chunks: list[bytes],
) -> None:
    from arkor_rx._dedupe import Planner

    frames = SSEDecoder().feed_frames(b"".join(chunks))
    if not len(frames):
        return
    batch = Planner(0).plan(frames, parse_batch(frames), None)  # no de-duplication
    columns = batch.columns()
    assert columns is not None
    ids, names, datas = columns
    assert ids == [event.event_id for event in batch.events]
    assert len(names) == len(datas) == len(batch.events)
    text = _jsonl._column_lines(columns, NOW)
    if text is not None:
        assert text == "".join(_jsonl.record_line(e, NOW) or "" for e in batch.events)


def test_batch_columns_cut_a_few_gaps_out_of_many_frames() -> None:
    from arkor_rx._dedupe import Planner

    body = b"".join(log(i) for i in range(1, 10)) + _PING + log(10)  # 1 gap in 11 frames
    frames = SSEDecoder().feed_frames(body)
    batch = Planner(16).plan(frames, parse_batch(frames), None)
    columns = batch.columns()
    assert columns is not None
    assert columns[0] == [str(i) for i in range(1, 11)]
    assert columns[2] == [log_data(i) for i in range(1, 11)]
