"""``arkor-rx jobs``, ``cancel`` and ``watch --all`` against the multi-job backend in a thread."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arkor_rx.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, main
from tests.sweep.sweep_fakes import (
    HOLD,
    ORG,
    PROJECT,
    TOKEN,
    FakeJobs,
    Job,
    Script,
    log,
    losses,
    on,
    threaded_jobs,
)

CONFIG = {"model": "m", "datasetSource": {"type": "huggingface", "name": "a/b"}}


@pytest.fixture
def backend(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[FakeJobs, asyncio.AbstractEventLoop]]:
    with threaded_jobs() as (jobs, loop):
        monkeypatch.setenv("ARKOR_CLOUD_API_URL", jobs.url)
        monkeypatch.setenv("ARKOR_TOKEN", TOKEN)
        monkeypatch.setenv("ARKOR_ORG_SLUG", ORG)
        monkeypatch.setenv("ARKOR_PROJECT_SLUG", PROJECT)
        monkeypatch.setenv("COLUMNS", "120")
        yield jobs, loop


def submit(jobs: FakeJobs, loop: asyncio.AbstractEventLoop, *names: str) -> list[str]:
    async def go() -> list[str]:
        async with jobs.client() as client:
            return [(await client.create_job(name, CONFIG)).id for name in names]

    return on(loop, go())  # type: ignore[no-any-return]


def settle(jobs: FakeJobs, loop: asyncio.AbstractEventLoop, *job_ids: str) -> None:
    """Wait until the jobs played their scripts (up to a HOLD or their end)."""

    async def go() -> None:
        for job_id in job_ids:
            job = jobs.jobs[job_id]
            played = sum(isinstance(item, dict) for item in job.script.items)

            def done(job: Job = job, played: int = played) -> bool:
                return job.terminal or len(job.events) >= played

            await jobs.until(done)

    on(loop, go())


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def plan(name: str, config: dict[str, Any]) -> Script:
    if name == "held":
        return Script([log(1, loss=1.0), HOLD])
    return losses([1.0, 0.75])


def test_jobs_is_a_table_newest_first(
    backend: tuple[FakeJobs, asyncio.AbstractEventLoop], capsys: pytest.CaptureFixture[str]
) -> None:
    jobs, loop = backend
    jobs.plan = plan
    ids = submit(jobs, loop, "first-bot", "held", "third-bot")
    settle(jobs, loop, *ids)
    assert main(["jobs"]) == EXIT_OK
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if re.match(r"\s*j\d", line)]
    assert [row[:4] for row in rows] == [
        ["j2", "third-bot", "completed", "2"],
        ["j1", "held", "running", "1"],
        ["j0", "first-bot", "completed", "2"],
    ]
    assert rows[2][4] == "2026-01-01T00:00:00Z"
    header = next(line for line in out.splitlines() if "status" in line).split()
    assert header == ["id", "name", "status", "step", "created"]


def test_jobs_limit_and_no_jobs(
    backend: tuple[FakeJobs, asyncio.AbstractEventLoop], capsys: pytest.CaptureFixture[str]
) -> None:
    jobs, loop = backend
    assert main(["jobs"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == "no jobs"
    jobs.plan = plan
    submit(jobs, loop, "a", "b")
    assert main(["jobs", "--limit", "1"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "j1" in out
    assert "j0" not in out
    assert main(["jobs", "--limit", "0"]) == EXIT_USAGE
    assert "--limit" in one_line(capsys.readouterr().err)


def test_cancel_a_running_job_once(
    backend: tuple[FakeJobs, asyncio.AbstractEventLoop], capsys: pytest.CaptureFixture[str]
) -> None:
    jobs, loop = backend
    jobs.plan = plan
    (job_id,) = submit(jobs, loop, "held")
    assert main(["cancel", job_id]) == EXIT_OK
    assert capsys.readouterr().out == f"cancelled {job_id}\n"
    assert jobs.cancels() == {job_id: 1}
    assert jobs.jobs[job_id].status == "cancelled"


def test_cancel_a_finished_or_unknown_job_is_one_line(
    backend: tuple[FakeJobs, asyncio.AbstractEventLoop], capsys: pytest.CaptureFixture[str]
) -> None:
    jobs, loop = backend
    jobs.plan = plan
    (job_id,) = submit(jobs, loop, "done")
    settle(jobs, loop, job_id)
    assert main(["cancel", job_id]) == EXIT_ERROR
    assert (
        one_line(capsys.readouterr().err)
        == f"arkor-rx: error: job {job_id} had already ended: completed"
    )
    assert main(["cancel", "nope"]) == EXIT_ERROR
    line = one_line(capsys.readouterr().err)
    assert line.startswith("arkor-rx: error: ")
    assert "404" in line
    assert TOKEN not in line


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["watch"], "give the JOB_ID to follow, or --all"),
        (["watch", "j1", "--all"], "give a JOB_ID or --all, not both"),
    ],
)
def test_watch_needs_a_job_or_all(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == EXIT_USAGE
    assert one_line(capsys.readouterr().err) == (
        f"arkor-rx watch: error: {said} (see arkor-rx watch --help)"
    )


def test_watch_all_follows_every_running_job_in_one_table(
    backend: tuple[FakeJobs, asyncio.AbstractEventLoop], capsys: pytest.CaptureFixture[str]
) -> None:
    jobs, loop = backend
    gate = on(loop, _event())
    jobs.plan = lambda name, config: (
        losses([1.0])
        if name == "old"
        else Script([log(1, loss=2.0), gate, log(2, loss=1.5), *losses([]).items[1:]])
    )
    old, *_ = submit(jobs, loop, "old", "alpha", "beta")
    settle(jobs, loop, old)

    async def release() -> None:  # the jobs go on once watch follows both
        await jobs.until(lambda: jobs.stream_requests >= 2)
        gate.set()

    future = asyncio.run_coroutine_threadsafe(release(), loop)
    assert main(["watch", "--all", "--no-live"]) == EXIT_OK
    future.result(timeout=5)
    out = capsys.readouterr().out
    assert jobs.stream_requests == 2  # the finished job is not followed
    assert re.search(r"\[alpha\].*completed", out)
    assert re.search(r"\[beta\].*completed", out)
    assert "old" not in out
    table = out[out.index("2 runs") :]
    assert table.index("alpha") < table.index("beta")


def test_watch_all_with_nothing_running(
    backend: tuple[FakeJobs, asyncio.AbstractEventLoop], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["watch", "--all"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == "no running jobs"


def test_watch_all_exits_1_when_a_job_fails(
    backend: tuple[FakeJobs, asyncio.AbstractEventLoop], capsys: pytest.CaptureFixture[str]
) -> None:
    jobs, loop = backend
    gate = on(loop, _event())

    def gated(name: str, config: dict[str, Any]) -> Script:
        script = losses([1.0], end="failed" if name == "bad" else "completed")
        return Script([gate, *script.items], status=script.status)

    jobs.plan = gated
    submit(jobs, loop, "good", "bad")

    async def release() -> None:
        await jobs.until(lambda: jobs.stream_requests >= 2)
        gate.set()

    future = asyncio.run_coroutine_threadsafe(release(), loop)
    assert main(["watch", "--all", "--no-live"]) == EXIT_ERROR
    future.result(timeout=5)
    out = capsys.readouterr().out
    assert re.search(r"\[bad\].*failed", out)


async def _event() -> asyncio.Event:
    return asyncio.Event()


def test_demo_sweep_names_the_pruned_runs_and_the_best(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    argv = ["demo", "--sweep", "--no-live", "--step-delay", "0", "--steps", "12"]
    assert main([*argv, "--max-concurrent", "1"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "4 runs, 4 finished" in out
    pruned = [line for line in out.splitlines() if line.startswith("pruned: ")]
    assert [line.split(":")[1].strip() for line in pruned] == [
        "lr-sweep-2 (learning_rate=0.004)",
        "lr-sweep-3 (learning_rate=0.015)",
    ]
    assert all("is worse than the median" in line for line in pruned)
    assert (
        out.rstrip()
        .splitlines()[-1]
        .startswith("best run: lr-sweep-0 (learning_rate=0.0002) (eval_loss ")
    )


@pytest.mark.parametrize("flag", [["--learning-rate", "0.1"], ["--fail-at-step", "3"]])
def test_demo_sweep_refuses_flags_the_grid_sets(
    flag: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--sweep", *flag]) == EXIT_USAGE
    assert one_line(capsys.readouterr().err) == (
        f"arkor-rx demo: error: {flag[0]} does not go with --sweep (see arkor-rx demo --help)"
    )


def test_demo_sweep_records_every_run_and_replay_shows_a_row_for_each(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # demo --sweep took the sink flags and ignored them; replay put every job of a
    # recording on the first job's row.
    monkeypatch.setenv("COLUMNS", "200")
    record = tmp_path / "sweep.jsonl"
    argv = ["demo", "--sweep", "--no-live", "--step-delay", "0", "--steps", "12"]
    assert main([*argv, "--max-concurrent", "1", "--record", str(record)]) == EXIT_OK
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    job_ids = list(dict.fromkeys(line["data"]["jobId"] for line in lines))
    assert len(job_ids) == 4
    capsys.readouterr()
    main(["replay", str(record), "--no-live"])
    out = capsys.readouterr().out
    assert "4 runs, 4 finished" in out
    for job_id in job_ids:
        assert re.search(rf"following job {job_id}: sweep( #\d)? \(recorded, 12 steps\)", out)
    completed = [line for line in out.splitlines() if "training completed at step 12" in line]
    assert len(completed) == 2  # the two runs the pruner let finish


def test_replay_of_a_missing_or_empty_file_is_one_line_and_draws_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["replay", str(tmp_path / "missing.jsonl"), "--no-live"]) == EXIT_ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    assert one_line(captured.err).startswith("arkor-rx: error: cannot read recording ")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["replay", str(empty), "--no-live"]) == EXIT_ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    assert one_line(captured.err) == f"arkor-rx: error: {empty}: the recording holds no events"


def test_watch_closes_its_sinks_when_following_the_job_fails(
    backend: tuple[FakeJobs, asyncio.AbstractEventLoop],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A watch that ended in an error left its sinks' run open (MLflow: RUNNING for ever).
    import arkor_rx.cli._sinks as sinks_module
    import arkor_rx.stream as stream_module
    from arkor_rx.errors import ReconnectExhaustedError
    from arkor_rx.events import TrainingStarted
    from tests.sinks.sink_helpers import RecordingSink

    jobs, loop = backend
    jobs.plan = lambda n, c: Script([HOLD])
    (job_id,) = submit(jobs, loop, "bot")

    class Breaks:
        def __init__(self, *_: Any, **__: Any) -> None:
            self.stats = stream_module.StreamStats()

        def __aiter__(self) -> Breaks:
            self.sent = False
            return self

        async def __anext__(self) -> TrainingStarted:
            if self.sent:
                raise ReconnectExhaustedError("gave up after 3 attempts", attempts=3)
            self.sent = True
            return TrainingStarted(job_id=job_id)

        async def aclose(self) -> None:
            return None

    sink = RecordingSink()
    monkeypatch.setattr(stream_module, "EventStream", Breaks)
    monkeypatch.setattr(sinks_module, "build_sinks", lambda args, backfill=False: [sink])
    assert main(["watch", job_id, "--no-live"]) == EXIT_ERROR
    assert "gave up after 3 attempts" in one_line(capsys.readouterr().err)
    (outcome,) = sink.outcomes()
    assert outcome.kind == "error"
    assert "gave up" in (outcome.error or "")
