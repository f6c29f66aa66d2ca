"""``arkor-rx dashboard``, ``serve --dashboard``: real processes, their printed URL, their API."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

import arkor_rx as ax
from arkor_rx import sinks
from arkor_rx.cli import main
from arkor_rx.dashboard.web import TOKEN_HEADER
from tests.web.conftest import HOLD, Served
from tests.web.web_helpers import read_frames


@asynccontextmanager
async def command(*args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """``arkor-rx ARGS`` as a process; Ctrl-C (SIGINT) at the end, which must exit 0."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "arkor_rx",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        _, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        assert b"Traceback" not in err


async def printed_url(process: asyncio.subprocess.Process) -> str:
    """The dashboard URL the command printed (reading its stdout line by line)."""
    assert process.stdout is not None
    while True:
        line = (await process.stdout.readline()).decode()
        assert line, "the command ended before printing its URL"
        if line.startswith("dashboard: "):
            return line.removeprefix("dashboard: ").strip()


def api(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    token = parse_qs(parts.query)["token"][0]
    return f"{parts.scheme}://{parts.netloc}", {TOKEN_HEADER: token}


async def test_dashboard_shows_recordings(served: Served, tmp_path: Path) -> None:
    recording = tmp_path / "run.jsonl"
    trainer = served.trainer(max_steps=HOLD - 2, sinks=[sinks.JSONL(str(recording))])
    job_id = (await trainer.wait()).job.id
    async with command("dashboard", "--port", "0", "--replay", str(recording)) as process:
        base, headers = api(await printed_url(process))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/api/stream?since=0", headers=headers) as response:
                await read_frames(response, lambda f: any("completed" in x.data for x in f))
            async with http.get(f"{base}/api/runs", headers=headers) as response:
                [run] = (await response.json())["runs"]
            async with http.post(f"{base}/api/runs/{job_id}/cancel", headers=headers) as response:
                assert response.status == 409  # a recording has no backend
    assert run["id"] == job_id
    assert run["name"] == "run.jsonl"
    assert run["status"] == "completed"
    assert run["step"] == HOLD - 2


async def test_serve_dashboard_follows_the_new_jobs(tmp_path: Path) -> None:
    async with command(
        "serve", "--port", "0", "--dashboard", "--dashboard-port", "0", "--token", "t0k"
    ) as process:
        assert process.stdout is not None
        listening = (await process.stdout.readline()).decode()
        url = listening.removeprefix("listening on ").strip()
        base, headers = api(await printed_url(process))
        async with ax.ArkorClient(url, "t0k", "local", "demo") as client:
            job = await client.create_job(
                "followed",
                {
                    "model": "arkor/triage-tiny",
                    "datasetSource": {"type": "huggingface", "name": "arkorlab/triage-demo"},
                    "maxSteps": 2,
                },
            )
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"{base}/api/stream?since=0", headers=headers) as response,
            ):
                frames = await read_frames(
                    response,
                    lambda f: any('"completed"' in x.data and job.id in x.data for x in f),
                )
    assert any("followed" in f.data for f in frames)
    assert "t0k" not in "".join(f.data for f in frames)


def test_a_missing_recording_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["dashboard", "--port", "0", "--replay", str(tmp_path / "nope.jsonl")])
    err = capsys.readouterr().err
    assert status == 1
    assert err.count("\n") == 1
    assert "nope.jsonl" in err


def test_without_a_backend_configured_it_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["dashboard", "--port", "0"])
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("arkor-rx: error: ")
    assert err.count("\n") == 1


def test_serve_and_demo_take_the_dashboard_flags() -> None:
    from arkor_rx.cli import build_parser

    parser = build_parser()
    for command_name in ("serve", "demo"):
        args = parser.parse_args([command_name, "--dashboard", "--dashboard-port", "0"])
        assert (args.dashboard, args.dashboard_port) == (True, 0)
    assert json.dumps(vars(parser.parse_args(["dashboard"]))["port"]) == "8766"


@pytest.mark.parametrize("sweep", [[], ["--sweep"]])
async def test_demo_prints_its_dashboard(sweep: list[str]) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "arkor_rx",
        "demo",
        *sweep,
        "--steps",
        "4",
        "--step-delay",
        "0",
        "--no-live",
        "--dashboard",
        "--dashboard-port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    [line] = [x for x in out.decode().splitlines() if x.startswith("dashboard: ")]
    assert line.startswith("dashboard: http://127.0.0.1:")
    assert "?token=" in line


@pytest.mark.parametrize("failure", ["refused", "bug"])
async def test_serve_reports_a_failing_dashboard_as_one_line(
    failure: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from arkor_rx.cli import _web, serve
    from tests.attack.hostile import TOKEN, HostileServer

    if failure == "bug":

        async def broken(*args: object) -> None:
            raise RuntimeError("a bug in the follower")

        monkeypatch.setattr(_web, "follow_backend", broken)
    with HostileServer() as hostile:  # it answers the job list with 404 (an ArkorError)
        server = argparse.Namespace(url=hostile.url, token=TOKEN)
        await serve._dashboard(server, argparse.Namespace(dashboard_port=0))
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("arkor-rx serve: error: dashboard: ")
    assert ("404" if failure == "refused" else "RuntimeError: a bug in the follower") in err
    assert TOKEN not in err


async def test_dashboard_reads_a_fifo_once_off_the_loop(served: Served, tmp_path: Path) -> None:
    recording = tmp_path / "run.jsonl"
    trainer = served.trainer(max_steps=HOLD - 2, sinks=[sinks.JSONL(str(recording))])
    job_id = (await trainer.wait()).job.id
    _, events = await served.backend.server_log(job_id)
    steps = [e.step for e in events if isinstance(e, ax.TrainingLog)]
    fifo = tmp_path / "live.jsonl"
    os.mkfifo(fifo)
    async with command("dashboard", "--port", "0", "--replay", str(fifo)) as process:
        base, headers = api(await printed_url(process))
        async with aiohttp.ClientSession() as http:
            # No writer yet: the FIFO's reader waits, and the pages are served meanwhile.
            async with http.get(f"{base}/api/runs", headers=headers) as response:
                assert (await response.json())["runs"] == []
            await asyncio.to_thread(fifo.write_bytes, recording.read_bytes())
            async with http.get(f"{base}/api/stream?since=0", headers=headers) as response:
                await read_frames(response, lambda f: any("completed" in x.data for x in f))
            async with http.get(f"{base}/api/runs/{job_id}", headers=headers) as response:
                detail = await response.json()
    assert detail["series"]["step"] == steps  # read once: nothing lost to a second open
    assert detail["run"]["status"] == "completed"


async def test_a_bad_line_is_one_line_and_the_events_before_it_stay(
    served: Served, tmp_path: Path
) -> None:
    recording = tmp_path / "run.jsonl"
    trainer = served.trainer(max_steps=HOLD - 2, sinks=[sinks.JSONL(str(recording))])
    job_id = (await trainer.wait()).job.id
    lines = recording.read_text().splitlines(keepends=True)
    recording.write_text("".join(lines[:3]) + "not a record\n" + "".join(lines[3:]))
    async with command("dashboard", "--port", "0", "--replay", str(recording)) as process:
        base, headers = api(await printed_url(process))
        assert process.stderr is not None
        error = (await process.stderr.readline()).decode()
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{base}/api/runs/{job_id}", headers=headers) as response,
        ):
            detail = await response.json()  # still served after the bad line
    assert error.startswith("arkor-rx dashboard: ")
    assert "line 4" in error
    assert str(recording) in error
    assert len(detail["series"]["step"]) == 2  # the two log events before the bad line
