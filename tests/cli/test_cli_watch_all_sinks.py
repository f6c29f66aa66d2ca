"""``arkor-rx watch --all`` with the sink flags, against a real local backend.

The backend trains one job at a time (``max_concurrent_jobs=1``) and holds
every job before its step 3 until it is cancelled (``hold_at_step=3``): a
first job of 10 steps holds, so the two short jobs submitted after it (2
steps: they complete) are still queued when ``watch --all`` lists the jobs,
however slow the machine. The test waits (on the held job's events) until it
holds, cancels it once the backend has answered ``watch --all``'s list (its
access log says so), and every job then ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from rich.console import Console

import arkor_rx as ax
from arkor_rx import sinks
from arkor_rx.cli import EXIT_ERROR, _live, main
from arkor_rx.cli._sinks import JobSinks
from arkor_rx.cli._watch_all import follow_job
from arkor_rx.server import FaultConfig, ServerConfig
from tests.e2e.e2e_helpers import DEMO, MODEL, local_backend
from tests.sinks.sink_helpers import RecordingSink
from tests.sinks.test_prometheus import lab, parse

HELD = 3


def job_config(steps: int) -> dict[str, Any]:
    return {"model": MODEL, "datasetSource": DEMO, "maxSteps": steps, "loggingSteps": 1}


async def held_back(client: ax.ArkorClient, job_id: str) -> None:
    """Follow the job's events until the log of the step before its hold."""
    stream = ax.EventStream(client, job_id)
    async with contextlib.aclosing(stream):
        async for event in stream:
            if isinstance(event, ax.TrainingLog) and event.step == HELD - 1:
                return


class _ListSeen(logging.Handler):
    """Sets ``seen`` once the backend has answered ``GET /v1/jobs`` (the access log's line
    is written when the response is)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        if '"GET /v1/jobs?' in line or '"GET /v1/jobs ' in line:
            self.seen.set()


@pytest.fixture
def list_seen() -> Iterator[_ListSeen]:
    logger = logging.getLogger("aiohttp.access")
    handler, level = _ListSeen(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.mark.timeout(90)
async def test_watch_all_writes_every_job_to_the_record_and_the_csv_with_its_name(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    list_seen: _ListSeen,
) -> None:
    record, table = tmp_path / "all.jsonl", tmp_path / "all.csv"
    faults = FaultConfig(hold_at_step=HELD)
    config = ServerConfig(step_delay=0.0, max_concurrent_jobs=1, faults=faults, access_log=True)
    async with local_backend(config) as backend:
        client = backend.client
        held = await client.create_job("held", job_config(10))
        alpha = await client.create_job("alpha", job_config(HELD - 1))
        beta = await client.create_job("beta", job_config(HELD - 1))
        await held_back(client, held.id)  # its steps before the hold ran: its log is fixed
        monkeypatch.setenv("ARKOR_CLOUD_API_URL", backend.server.url)
        monkeypatch.setenv("ARKOR_TOKEN", backend.server.token)
        monkeypatch.setenv("ARKOR_ORG_SLUG", "local")
        monkeypatch.setenv("ARKOR_PROJECT_SLUG", "e2e")
        argv = ["watch", "--all", "--no-live", "--record", str(record), "--csv", str(table)]
        watching = asyncio.create_task(asyncio.to_thread(main, argv))
        await list_seen.seen.wait()  # watch --all has the three unfinished jobs
        await client.cancel_job(held.id)
        status = await watching
        ends = {job.id: (await client.get_job(job.id)).status for job in (held, alpha, beta)}

    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert ends == {held.id: "cancelled", alpha.id: "completed", beta.id: "completed"}
    assert status == EXIT_ERROR  # one job was cancelled (the sinks themselves did not fail)
    assert "sink" not in captured.out
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    types: dict[str, list[str]] = {}
    for line in lines:
        types.setdefault(line["data"]["jobId"], []).append(line["event"])
    assert set(types) == {held.id, alpha.id, beta.id}
    for job_id in (alpha.id, beta.id):
        assert types[job_id][0] == "training.started"
        assert types[job_id][-1] == "training.completed"
        assert types[job_id].count("training.log") == HELD - 1
    assert types[held.id][-1] == "training.failed"  # the backend's end of a cancelled job
    with table.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    steps: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        steps.setdefault((row["job_id"], row["name"]), []).append(int(row["step"]))
    assert steps == {
        (held.id, "held"): [1, 2],
        (alpha.id, "alpha"): [1, 2],
        (beta.id, "beta"): [1, 2],
    }


def test_watch_all_checks_the_sink_targets_before_connecting(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARKOR_CLOUD_API_URL", raising=False)
    assert main(["watch", "--all", "--csv", "/nonexistent/c.csv"]) == EXIT_ERROR
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [
        "arkor-rx: error: --csv /nonexistent/c.csv: the folder /nonexistent does not exist"
    ]


@pytest.mark.timeout(90)
async def test_each_followed_job_hands_its_reconnects_to_the_sinks_once() -> None:
    # Every connection is closed after two events: a run of N events is read
    # on ceil(N / 2) connections, so it is reopened ceil(N / 2) - 1 times.
    faults = FaultConfig(drop_after_events=2)
    async with local_backend(ServerConfig(step_delay=0.0, faults=faults)) as backend:
        job = await backend.client.create_job("flaky", job_config(6))
        registry = CollectorRegistry()
        recording = RecordingSink(overflow="block")
        feed = JobSinks([sinks.Prometheus(registry=registry), recording])
        view = _live.view(Console(file=io.StringIO()), True, many=True)
        with view:
            await follow_job(backend.client, view, job, feed)
        await feed.finish()
        _, stored = await backend.server_log(job.id)
    expected = math.ceil(len(stored) / 2) - 1
    assert expected > 0
    (outcome,) = recording.outcomes()
    assert (outcome.kind, outcome.reconnects) == ("completed", expected)
    got = parse(generate_latest(registry).decode())
    assert got[("arkor_stream_reconnects_total", lab(job.id, "flaky"))] == expected
