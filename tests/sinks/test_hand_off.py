"""The hand-off of the second speed pass: a loop turn's items at once, encode at hand-off.

What these pin: ``to_sink`` finds runs and their ends per loop turn (runs that
interleave within one turn still open, write and close in stream order); a
sink's ``encode`` runs as items are handed over and ``write`` gets what it
made; a full ``drop`` buffer drops the rest of a hand-off, counted, keeping a
run's end; a ``block`` buffer past its bound is written whole; the JSONL
recorder's gathering write survives short writes and batches of many chunks.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops

from arkor_rx import operators as aop
from arkor_rx import sinks
from arkor_rx.events import TrainingCompleted, TrainingLog, TrainingStarted, parse_event
from arkor_rx.jobs import TrainingJob
from arkor_rx.sinks import _jsonl
from arkor_rx.sinks._runner import Gather, SinkHub, runner_for
from arkor_rx.sse import ServerSentEvent
from tests.sinks.sink_helpers import RecordingSink, run_events

JOB = sinks.Outcome("completed", job_id="j1")


class EncodingSink(RecordingSink):
    """Encodes each hand-off as ``("chunk", job id, item count)``; may fail to encode."""

    def __init__(self, *, fail_encode: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fail_encode = fail_encode
        self.encoded: list[int] = []

    def encode(self, items: list[Any]) -> list[Any]:
        if self.fail_encode:
            raise ValueError("cannot encode")
        self.encoded.append(len(items))
        return [("chunk", items[0].job_id, len(items))]


async def test_interleaved_runs_within_one_turn_open_write_and_close_in_stream_order() -> None:
    a, b = run_events("ja", steps=2), run_events("jb", steps=2)
    merged = [a[0], b[0], a[1], b[1], a[2], a[3], b[2], b[3]]  # ja completes before jb
    sink = RecordingSink()
    out = await reactivex.from_iterable(merged).pipe(aop.to_sink(sink), ops.to_list())
    assert out == merged
    flat: list[tuple[str, str]] = []
    for kind, value in sink.calls:
        if kind == "write":
            flat += [("item", item.job_id) for item in value]
        else:
            flat.append((kind, value.id if kind == "open" else value.job_id))
    assert flat == [
        ("open", "ja"),
        ("item", "ja"),
        ("open", "jb"),
        ("item", "jb"),
        ("item", "ja"),
        ("item", "jb"),
        ("item", "ja"),
        ("item", "ja"),
        ("close", "ja"),
        ("item", "jb"),
        ("item", "jb"),
        ("close", "jb"),
    ]
    assert [o.kind for o in sink.outcomes()] == ["completed", "completed"]


async def test_a_run_that_ends_and_goes_on_in_one_turn_is_opened_again() -> None:
    first = run_events("j1", steps=1)
    again: list[Any] = [TrainingLog(job_id="j1", step=9)]
    sink = RecordingSink()
    await reactivex.from_iterable(first + again).pipe(aop.to_sink(sink), ops.to_list())
    assert sink.kinds == ["open", "write", "close", "open", "write", "close"]
    assert [o.kind for o in sink.outcomes()] == ["completed", "cancelled"]


async def test_write_gets_what_encode_made_and_stats_count_the_items() -> None:
    sink = EncodingSink()
    events = run_events(steps=300)  # more than one hand-off of GATHER_LIMIT items
    await reactivex.from_iterable(events).pipe(aop.to_sink(sink), ops.to_list())
    writes = [batch for kind, batch in sink.calls if kind == "write"]
    assert all(entry[0] == "chunk" for batch in writes for entry in batch)
    assert sum(entry[2] for batch in writes for entry in batch) == len(events)
    assert sum(sink.encoded) == len(events)
    assert sink.stats.written == len(events)


async def test_an_encode_that_raises_is_a_counted_error_and_the_run_still_closes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = EncodingSink(fail_encode=True)
    await reactivex.from_iterable(run_events(steps=2)).pipe(aop.to_sink(sink), ops.to_list())
    assert sink.kinds == ["open", "close"]
    assert sink.stats.errors >= 1
    assert sink.stats.last_error == "ValueError: cannot encode"
    assert "encode for job j1 failed" in caplog.text


async def test_a_full_drop_buffer_drops_the_rest_of_a_hand_off_but_keeps_the_end() -> None:
    sink = RecordingSink(buffer_size=4)
    hub = SinkHub([sink])
    hub.open(TrainingJob(id="j1"))
    logs: list[Any] = [TrainingLog(job_id="j1", step=s) for s in range(1, 10)]
    done = TrainingCompleted(job_id="j1")
    assert hub.put_batch([*logs, done]) is None
    hub.close(JOB)
    await hub.finish()
    assert sink.items == [*logs[:4], done]
    assert sink.stats.dropped == 5


async def test_a_block_buffer_past_its_bound_is_written_in_one_batch() -> None:
    sink = RecordingSink(overflow="block", buffer_size=4)
    sink.gate = asyncio.Event()
    hub = SinkHub([sink])
    hub.open(TrainingJob(id="j1"))
    await asyncio.sleep(0)  # the task takes the open and waits on the gate
    events: list[Any] = [TrainingLog(job_id="j1", step=s) for s in range(1, 11)]
    for start in range(0, 10, 2):
        hub.put_batch(events[start : start + 2])  # a push source: never waits
    sink.gate.set()
    hub.close(JOB)
    await hub.finish()
    writes = [batch for kind, batch in sink.calls if kind == "write"]
    assert writes == [events]  # 10 items, past the bound of 4: taken whole
    assert sink.stats.high_water == 10


async def test_gather_hands_one_loop_turn_over_as_one_batch() -> None:
    sink = RecordingSink()
    hub = SinkHub([sink])
    gather = Gather(hub, asyncio.get_running_loop())
    hub.open(TrainingJob(id="j1"))
    events = [TrainingLog(job_id="j1", step=s) for s in range(1, 6)]
    for event in events:
        gather.add(event)
    assert runner_for(sink).stats.written == 0  # nothing handed over before the turn ends
    await asyncio.sleep(0)
    gather.flush()
    hub.close(JOB)
    await hub.finish()
    assert [batch for kind, batch in sink.calls if kind == "write"] == [events]


def test_the_recorder_writes_every_chunk_through_short_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    def short_writev(fd: int, buffers: Sequence[bytes]) -> int:
        return os.write(fd, bytes(buffers[0])[:3])  # the OS took 3 bytes only

    monkeypatch.setattr(_jsonl, "_WRITEV", short_writev)
    chunks = [f"line {i}\n".encode() for i in range(50)]
    with open(tmp_path / "out", "wb", buffering=0) as handle:
        _jsonl._write_all(handle, chunks)
    assert (tmp_path / "out").read_bytes() == b"".join(chunks)


def test_the_recorder_joins_more_chunks_than_one_gathering_write_takes(tmp_path: Path) -> None:
    chunks = [f"{i}\n".encode() for i in range(_jsonl._IOV_MAX + 5)]
    with open(tmp_path / "out", "wb", buffering=0) as handle:
        _jsonl._write_all(handle, chunks)
    assert (tmp_path / "out").read_bytes() == b"".join(chunks)


async def test_a_recording_of_wire_events_and_python_events_is_what_record_line_gives(
    tmp_path: Path,
) -> None:
    wire = [
        parse_event(
            ServerSentEvent(
                event="training.log",
                id=str(i),
                data=f'{{"type":"training.log","jobId":"j1","step":{i},"gpu":{i}}}',
            )
        )
        for i in range(1, 4)
    ]
    mixed = [TrainingStarted(job_id="j1"), *wire, TrainingCompleted(job_id="j1")]
    path = tmp_path / "run.jsonl"
    await reactivex.from_iterable(mixed).pipe(aop.to_sink(sinks.JSONL(path)), ops.to_list())
    lines = path.read_text().splitlines()
    assert len(lines) == 5
    for line, event in zip(lines, mixed, strict=True):
        record = json.loads(line)
        expected = json.loads(_jsonl.record_line(event, record["receivedAt"]) or "")  # type: ignore[arg-type]
        assert record == expected
    assert json.loads(lines[2])["data"]["gpu"] == 2  # a field no event type declares


async def test_prometheus_called_directly_with_events_sets_what_the_runner_sets() -> None:
    from prometheus_client import CollectorRegistry

    def gauges(registry: Any) -> dict[str, float]:
        return {
            sample.name: sample.value
            for metric in registry.collect()
            for sample in metric.samples
            if sample.name in ("arkor_training_loss", "arkor_training_step")
        }

    events = run_events(steps=5)
    direct = sinks.Prometheus(registry=CollectorRegistry())
    await direct.open(TrainingJob(id="j1", name="r"))
    await direct.write(events)
    through = sinks.Prometheus(registry=CollectorRegistry())
    await reactivex.from_iterable(events).pipe(aop.to_sink(through, name="r"), ops.to_list())
    assert (
        gauges(direct.registry)
        == gauges(through.registry)
        == {
            "arkor_training_loss": 0.2,
            "arkor_training_step": 5.0,
        }
    )


async def test_a_block_sink_whose_encode_fails_never_leaves_the_producer_waiting() -> None:
    sink = EncodingSink(fail_encode=True, overflow="block", buffer_size=2)
    hub = SinkHub([sink])
    hub.open(TrainingJob(id="j1"))
    await asyncio.sleep(0)  # the task opens the run and goes idle
    room = hub.put_batch([TrainingLog(job_id="j1", step=s) for s in range(1, 4)])
    assert room is None  # nothing was kept: there is nothing to wait for
    hub.close(JOB)
    await hub.finish()
    assert sink.stats.errors == 1
    assert sink.kinds == ["open", "close"]
