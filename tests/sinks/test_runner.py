"""The sink runner: own queue and task per sink, order, batches, overflow, errors, flush."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from arkor_rx.errors import ConfigError
from arkor_rx.events import TrainingCompleted, TrainingLog
from arkor_rx.jobs import TrainingJob
from arkor_rx.sinks import Outcome, RunErrors, SinkHub, SinkItem, SinkStats
from arkor_rx.sinks._runner import runner_for
from tests.sinks.sink_helpers import RecordingSink, run_events

JOB = TrainingJob(id="j1", name="run-a")


async def test_items_arrive_in_order_in_batches_between_open_and_close() -> None:
    sink = RecordingSink()
    hub = SinkHub([sink])
    hub.open(JOB)
    events = run_events(steps=50)
    for event in events:
        assert hub.put(event) is None
    hub.close(Outcome("completed", job_id="j1"))
    await hub.finish()
    assert sink.items == events
    assert sink.kinds[0] == "open"
    assert sink.kinds[-1] == "close"
    assert sink.kinds.count("write") < len(events)  # batched: put without a turn of the loop
    assert sink.stats.written == len(events)
    assert sink.stats.batches == sink.kinds.count("write")
    assert sink.outcomes()[0].kind == "completed"


async def test_put_creates_no_task_per_item() -> None:
    sink = RecordingSink(buffer_size=4096)
    hub = SinkHub([sink])
    hub.open(JOB)
    before = len(asyncio.all_tasks())
    for step in range(1, 2001):
        hub.put(TrainingLog(job_id="j1", step=step))
    assert len(asyncio.all_tasks()) == before
    hub.close(Outcome("completed", job_id="j1"))
    await hub.finish()
    assert len(sink.items) == 2000


async def test_drop_counts_logs_and_keeps_the_terminal_event_and_close(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = RecordingSink(buffer_size=4)
    sink.gate = asyncio.Event()
    hub = SinkHub([sink])
    hub.open(JOB)
    logs = [TrainingLog(job_id="j1", step=s) for s in range(1, 21)]
    with caplog.at_level(logging.WARNING, logger="arkor_rx.sinks"):
        for event in logs:
            hub.put(event)
        done = TrainingCompleted(job_id="j1")
        hub.put(done)  # the buffer is full, but a terminal event is never dropped
        hub.close(Outcome("completed", job_id="j1"))
        sink.gate.set()
        await hub.finish()
    kept = sink.items
    assert kept[-1] == done
    assert sink.stats.dropped == 21 - len(kept)
    assert sink.stats.dropped > 0
    steps = [e.step for e in kept[:-1] if isinstance(e, TrainingLog)]
    assert steps == sorted(steps)  # order intact
    assert sink.outcomes()[0].kind == "completed"
    text = caplog.text
    assert "dropping items of job j1" in text
    assert f"dropped {sink.stats.dropped} items of job j1" in text


async def test_block_makes_the_producer_wait_and_loses_nothing_while_other_sinks_drain() -> None:
    slow = RecordingSink(overflow="block", buffer_size=3, name="slow")
    slow.gate = asyncio.Event()
    fast = RecordingSink(name="fast")
    hub = SinkHub([slow, fast])
    hub.open(JOB)
    events = [TrainingLog(job_id="j1", step=s) for s in range(1, 11)]
    produced = 0

    async def producer() -> None:
        nonlocal produced
        for event in events:
            wait = hub.put(event)
            produced += 1
            if wait is not None:
                await wait

    task = asyncio.create_task(producer())
    for _ in range(50):  # a bounded number of loop turns: enough for both sinks' tasks
        await asyncio.sleep(0)
    # The producer is held once the slow buffer is full; the fast sink has all so far.
    assert not task.done()
    held_at = produced
    for _ in range(20):
        await asyncio.sleep(0)
    assert produced == held_at
    assert fast.items == events[:produced]
    slow.gate.set()
    await task
    hub.close(Outcome("completed", job_id="j1"))
    await hub.finish()
    assert slow.items == events
    assert fast.items == events
    assert slow.stats.dropped == 0
    assert slow.stats.high_water <= slow.buffer_size + 1


async def test_block_on_a_source_that_cannot_wait_grows_the_queue_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = RecordingSink(overflow="block", buffer_size=2)
    sink.gate = asyncio.Event()
    hub = SinkHub([sink])
    hub.open(JOB)
    events = [TrainingLog(job_id="j1", step=s) for s in range(1, 30)]
    with caplog.at_level(logging.INFO, logger="arkor_rx.sinks"):
        for event in events:
            hub.put(event)  # the awaitable is ignored: a push source
        hub.close(Outcome("completed", job_id="j1"))
        sink.gate.set()
        await hub.finish()
    assert sink.items == events
    assert caplog.text.count("the queue grows rather than lose items") == 1


async def test_errors_are_logged_counted_and_the_run_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = RecordingSink(fail_write=True)
    hub = SinkHub([sink])
    hub.open(JOB)
    with caplog.at_level(logging.WARNING, logger="arkor_rx.sinks"):
        for event in run_events():
            hub.put(event)
            await asyncio.sleep(0)
        hub.close(Outcome("completed", job_id="j1"))
        await hub.finish()  # fail_on_error is False: no raise
    assert sink.stats.errors == sink.kinds.count("write") > 1
    assert sink.stats.last_error == "RuntimeError: sink is broken"
    assert sink.kinds[-1] == "close"
    assert caplog.text.count("write for job j1 failed") == 1  # once per run, then counted


async def test_fail_on_error_raises_after_the_other_sinks_closed() -> None:
    broken = RecordingSink(fail_write=True, fail_on_error=True, name="broken")
    other = RecordingSink(name="other")
    other.gate = asyncio.Event()
    hub = SinkHub([broken, other])
    hub.open(JOB)
    for event in run_events():
        hub.put(event)
    hub.close(Outcome("completed", job_id="j1"))
    finish = asyncio.create_task(hub.finish())
    await broken.closed.wait()
    for _ in range(10):
        await asyncio.sleep(0)
    assert not finish.done()  # still waiting for the other sink
    other.gate.set()
    with pytest.raises(RuntimeError, match="sink is broken"):
        await finish
    assert other.kinds[-1] == "close"


async def test_many_runs_share_one_sink_without_overlapping_calls() -> None:
    sink = RecordingSink()
    a, b = SinkHub([sink]), SinkHub([sink])
    assert a.runners[0] is b.runners[0]
    a.open(TrainingJob(id="ja", name="a"))
    b.open(TrainingJob(id="jb", name="b"))
    ev_a, ev_b = run_events("ja", 20), run_events("jb", 20)
    for x, y in zip(ev_a, ev_b, strict=True):
        a.put(x)
        b.put(y)
        await asyncio.sleep(0)
    a.close(Outcome("completed", job_id="ja"))
    b.close(Outcome("completed", job_id="jb"))
    await asyncio.gather(a.finish(), b.finish())
    assert not sink.overlapped
    assert [e for e in sink.items if e.job_id == "ja"] == ev_a
    assert [e for e in sink.items if e.job_id == "jb"] == ev_b
    assert sorted(o.job_id or "" for o in sink.outcomes()) == ["ja", "jb"]
    await asyncio.sleep(0)
    assert runner_for(sink) is not a.runners[0]  # released: a later owner gets a fresh runner


async def test_stats_live_on_the_sink_and_accumulate() -> None:
    sink = RecordingSink()
    for _ in range(2):
        hub = SinkHub([sink])
        hub.open(JOB)
        hub.put(TrainingLog(job_id="j1", step=1))
        hub.close(Outcome("completed", job_id="j1"))
        await hub.finish()
    stats = sink.stats
    assert isinstance(stats, SinkStats)
    assert stats.written == 2


@pytest.mark.parametrize(
    ("attr", "value", "match"),
    [("overflow", "wait", "overflow must be"), ("buffer_size", 0, "buffer_size must be")],
)
async def test_bad_policy_attributes_are_a_config_error(
    attr: str, value: object, match: str
) -> None:
    sink = RecordingSink()
    setattr(sink, attr, value)
    with pytest.raises(ConfigError, match=match):
        SinkHub([sink])


class HeldWrites(RecordingSink):
    """A sink whose writes say when they start, and wait for ``release``."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = asyncio.Event()
        self.release = asyncio.Event()

    async def write(self, events: Sequence[SinkItem]) -> None:
        self.calls.append(("write", list(events)))
        self.writing.set()
        await self.release.wait()


async def test_what_arrives_while_a_write_is_in_flight_is_the_next_batch() -> None:
    sink = HeldWrites()
    hub = SinkHub([sink])
    hub.open(JOB)
    events = run_events(steps=20)
    hub.put(events[0])
    await sink.writing.wait()  # the first write is in flight
    for event in events[1:]:
        hub.put(event)
    sink.release.set()
    hub.close(Outcome("completed", job_id="j1"))
    await asyncio.wait_for(hub.finish(), 10)
    writes = [batch for kind, batch in sink.calls if kind == "write"]
    assert writes == [events[:1], events[1:]]
    assert sink.kinds == ["open", "write", "write", "close"]


async def test_an_idle_sink_writes_a_lone_item_without_waiting_for_more() -> None:
    sink = RecordingSink()
    hub = SinkHub([sink])
    hub.open(JOB)
    hub.put(TrainingLog(job_id="j1", step=1))
    for _ in range(100):  # loop turns, not time: no timer decides when a batch goes
        if sink.items:
            break
        await asyncio.sleep(0)
    assert [item.step for item in sink.items] == [1]  # type: ignore[union-attr]
    hub.close(Outcome("completed", job_id="j1"))
    await hub.finish()


class _FailsForRuns(RecordingSink):
    """Fails every write: with ``RunErrors`` for ``runs``, or (none named) a plain error."""

    def __init__(self, runs: Sequence[str] = ()) -> None:
        super().__init__(fail_on_error=True, name="fails")
        self.runs = runs

    async def write(self, events: Sequence[SinkItem]) -> None:
        self.calls.append(("write", list(events)))
        if self.runs:
            raise RunErrors({job_id: OSError(f"cannot write {job_id}") for job_id in self.runs})
        raise RuntimeError("the tracker is down")


async def _two_runs_one_batch(sink: RecordingSink) -> dict[str, BaseException | None]:
    """Runs ja and jb, one event each, written in one batch; each run's close result."""
    a, b = SinkHub([sink]), SinkHub([sink])
    a.open(TrainingJob(id="ja", name="a"))
    b.open(TrainingJob(id="jb", name="b"))
    a.put(TrainingLog(job_id="ja", step=1))  # no await between: one batch
    b.put(TrainingLog(job_id="jb", step=1))
    a.close(Outcome("completed", job_id="ja"))
    b.close(Outcome("completed", job_id="jb"))
    results: dict[str, BaseException | None] = {}
    for job_id, hub in (("ja", a), ("jb", b)):
        try:
            await hub.finish()
            results[job_id] = None
        except Exception as exc:
            results[job_id] = exc
    assert [len(items) for kind, items in sink.calls if kind == "write"] == [2]
    return results


async def test_an_error_a_sink_names_fails_only_its_own_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = _FailsForRuns(runs=["jb"])  # the batch's second run, not its first
    with caplog.at_level(logging.WARNING, logger="arkor_rx.sinks"):
        results = await _two_runs_one_batch(sink)
    assert results["ja"] is None
    assert isinstance(results["jb"], OSError)
    assert str(results["jb"]) == "cannot write jb"
    assert sink.stats.errors == 1  # one failed call
    assert sink.stats.last_error == "OSError: cannot write jb"
    assert "write for job jb failed: OSError: cannot write jb" in caplog.text
    assert "job ja failed" not in caplog.text


async def test_an_error_no_run_is_named_for_fails_every_run_of_the_batch() -> None:
    sink = _FailsForRuns()
    results = await _two_runs_one_batch(sink)
    assert {job_id: str(exc) for job_id, exc in results.items()} == {
        "ja": "the tracker is down",
        "jb": "the tracker is down",
    }
    assert sink.stats.errors == 1


class _NamesAnotherJobOnce(RecordingSink):
    """Its first write fails for ``j-later``, a job it has no run of (yet)."""

    async def write(self, events: Sequence[SinkItem]) -> None:
        await super().write(events)
        if self.kinds.count("write") == 1:
            raise RunErrors({"j-later": OSError("stale")})


async def test_an_error_for_a_job_that_is_not_open_is_never_charged_to_a_later_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = _NamesAnotherJobOnce(fail_on_error=True)
    with caplog.at_level(logging.WARNING, logger="arkor_rx.sinks"):
        for job_id in ("j0", "j-later"):
            hub = SinkHub([sink])
            hub.open(TrainingJob(id=job_id, name="r"))
            hub.put(TrainingLog(job_id=job_id, step=1))
            hub.close(Outcome("completed", job_id=job_id))
            await hub.finish()  # neither run failed: nothing to raise
    assert "write failed for job j-later, which is not open here: OSError: stale" in caplog.text
    assert sink.stats.errors == 1


async def test_run_errors_raised_by_open_are_charged_to_that_run() -> None:
    class OpenFails(RecordingSink):
        async def open(self, job: TrainingJob) -> None:
            raise RunErrors({"someone-else": OSError("cannot open")})

    sink = OpenFails(fail_on_error=True)
    hub = SinkHub([sink])
    hub.open(JOB)
    hub.close(Outcome("completed", job_id="j1"))
    with pytest.raises(RunErrors, match="cannot open"):
        await hub.finish()


def test_run_errors_needs_a_run_and_pickles() -> None:
    import pickle

    with pytest.raises(ValueError, match="at least one run"):
        RunErrors({})
    err = pickle.loads(pickle.dumps(RunErrors({"j1": OSError("disk full")})))
    assert isinstance(err, RunErrors)
    assert str(err) == "writing failed for 1 run(s); job j1: disk full"
    assert str(err.errors["j1"]) == "disk full"
