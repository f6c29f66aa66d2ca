"""What ``to_sink`` and a ``SinkHub`` hand the sinks: runs opened and closed in stream
order (several runs may share a batch), drops that keep a run's end, a recorder
that writes every byte, Prometheus the same whether called directly or not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import reactivex
from reactivex import operators as ops

from arkor_rx import operators as aop
from arkor_rx import sinks
from arkor_rx.events import TrainingCompleted, TrainingLog, TrainingStarted, parse_event
from arkor_rx.jobs import TrainingJob
from arkor_rx.sinks import SinkHub, _jsonl
from arkor_rx.sse import ServerSentEvent
from tests.sinks.sink_helpers import RecordingSink, run_events

JOB = sinks.Outcome("completed", job_id="j1")


async def test_interleaved_runs_open_write_and_close_in_stream_order() -> None:
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


async def test_a_run_that_ends_and_goes_on_is_opened_again() -> None:
    first = run_events("j1", steps=1)
    again: list[Any] = [TrainingLog(job_id="j1", step=9)]
    sink = RecordingSink()
    await reactivex.from_iterable(first + again).pipe(aop.to_sink(sink), ops.to_list())
    assert sink.kinds == ["open", "write", "close", "open", "write", "close"]
    assert [o.kind for o in sink.outcomes()] == ["completed", "cancelled"]


async def test_a_full_drop_queue_drops_the_rest_but_keeps_the_end() -> None:
    sink = RecordingSink(overflow="drop", buffer_size=4)
    hub = SinkHub([sink])
    hub.open(TrainingJob(id="j1"))
    logs: list[Any] = [TrainingLog(job_id="j1", step=s) for s in range(1, 10)]
    done = TrainingCompleted(job_id="j1")
    assert hub.put_batch([*logs, done]) is None
    hub.close(JOB)
    await hub.finish()
    assert sink.items == [*logs[:4], done]
    assert sink.stats.dropped == 5


def test_the_recorder_writes_every_byte_through_short_writes(tmp_path: Path) -> None:
    class Short:
        """A file whose every write takes 3 bytes at most (as the OS may)."""

        def __init__(self) -> None:
            self.data = b""

        def write(self, view: memoryview) -> int:
            self.data += bytes(view[:3])
            return len(view[:3])

    data = b"".join(f"line {i}\n".encode() for i in range(50))
    handle = Short()
    _jsonl._write_all(handle, data)  # type: ignore[arg-type]
    assert handle.data == data


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
