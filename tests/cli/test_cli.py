"""The ``arkor-rx`` command: serve answers, demo ends with the right status, watch follows.

A user mistake must give one line on stderr (``arkor-rx: error: ...`` or the
argparse message), a non-zero exit status, and no traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from arkor_rx.cli import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, main
from arkor_rx.client import ArkorClient
from arkor_rx.protocol import __version__


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == f"arkor-rx {__version__}"


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == EXIT_OK
    out = capsys.readouterr().out
    for command in ("serve", "demo", "watch"):
        assert command in out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "required"),
        (["launch"], "invalid choice"),
        (["serve", "--port", "http"], "not a port number"),
        (["serve", "--port", "70000"], "out of range"),
        (["demo", "--steps", "0"], "must be positive"),
        (["demo", "--steps", "ten"], "not a whole number"),
        (["demo", "--learning-rate", "-1"], "must be a positive number"),
        (["demo", "--fail-at-step", "0"], "must be positive"),
        (["demo", "--bogus"], "unrecognized arguments"),
        (["watch"], "JOB_ID"),
    ],
)
def test_bad_command_line_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    assert main(argv) == EXIT_USAGE
    captured = capsys.readouterr()
    line = one_line_error(captured.err)
    assert line.startswith("arkor-rx")
    assert "error" in line or "required" in line
    assert fragment in line
    assert captured.out == ""


def test_watch_without_credentials_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    # conftest cleared the ARKOR_* variables and points HOME at an empty folder
    assert main(["watch", "j1"]) == EXIT_ERROR
    line = one_line_error(capsys.readouterr().err)
    assert line.startswith("arkor-rx: error: ")
    assert "credentials" in line


# --------------------------------------------------------------------------- serve


@contextlib.contextmanager
def serve_process(*extra: str) -> Iterator[tuple[str, subprocess.Popen[str], list[str]]]:
    """``python -m arkor_rx serve --port 0 ...``: yields (url, process, lines printed)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "arkor_rx", "serve", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    try:
        lines: list[str] = []
        while not any(line.startswith("press Ctrl-C") for line in lines):
            line = proc.stdout.readline()
            assert line, (
                f"serve exited early: {proc.wait()} {proc.stderr.read() if proc.stderr else ''}"
            )
            lines.append(line.strip())
        url = next(line.split()[-1] for line in lines if line.startswith("listening on "))
        yield url, proc, lines
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - safety net
                proc.kill()
                proc.wait()
        proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()


def scope() -> dict[str, str]:
    return {"orgSlug": "local", "projectSlug": "demo"}


async def get_status(url: str, token: str | None) -> int:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}/v1/jobs/nope", params=scope(), headers=headers) as response,
    ):
        return response.status


@pytest.mark.timeout(30)
def test_serve_answers_with_the_token_and_stops_on_ctrl_c() -> None:
    with serve_process("--token", "tok-given-123") as (url, proc, lines):
        assert url.startswith("http://127.0.0.1:")
        assert not any(line.startswith("token:") for line in lines)  # shown once, in the hints
        assert asyncio.run(get_status(url, None)) == 401
        assert asyncio.run(get_status(url, "wrong")) == 401
        assert asyncio.run(get_status(url, "tok-given-123")) == 404  # authorised; no such job
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == EXIT_OK
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read()


@pytest.mark.timeout(30)
def test_serve_prints_a_generated_token() -> None:
    with serve_process() as (url, _proc, lines):
        tokens = [line.removeprefix("token: ") for line in lines if line.startswith("token: ")]
        assert len(tokens) == 1
        assert len(tokens[0]) >= 16
        assert asyncio.run(get_status(url, tokens[0])) == 404


def test_serve_on_a_taken_port_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port), "--token", "t"]) == EXIT_ERROR
    line = one_line_error(capsys.readouterr().err)
    assert line.startswith("arkor-rx: error: ")


# --------------------------------------------------------------------------- demo


def test_demo_completes_with_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["demo", "--no-live", "--steps", "12", "--step-delay", "0"])
    out = capsys.readouterr().out
    assert status == EXIT_OK, out
    assert "training completed at step 12" in out or "early stop" in out
    assert "run summary" in out
    assert "checkpoint 4 answer: " in out  # each checkpoint's sample answer, from infer
    assert re.search(r"events: \d+, lost: 0, repeated: 0", out)
    assert "\x1b[" not in out  # not a terminal: plain lines


def test_demo_chaos_reconnects_without_losing_or_repeating(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["demo", "--no-live", "--chaos", "--steps", "12", "--step-delay", "0"])
    out = capsys.readouterr().out
    assert status == EXIT_OK, out
    reconnects = re.search(r"reconnects\s+│\s+(\d+)", out)
    assert reconnects is not None
    assert int(reconnects.group(1)) >= 2
    assert re.search(r"events: \d+, lost: 0, repeated: 0", out)


def test_demo_fail_at_step_shows_the_failure_and_exits_non_zero(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["demo", "--no-live", "--steps", "20", "--step-delay", "0", "--fail-at-step", "5"]
    status = main(argv)
    captured = capsys.readouterr()
    out = captured.out
    assert status == EXIT_ERROR, out
    assert "training failed: injected fault at step 5" in out
    summary = out[out.index("run summary") :]
    assert re.search(r"status\s+│\s+failed", summary)
    assert re.search(r"error\s+│\s+injected fault at step 5", summary)
    assert "training completed" not in out
    assert re.search(r"events: \d+, lost: 0, repeated: 0", out)
    assert "Traceback" not in captured.err


def test_demo_with_a_bad_dataset_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": "not a list"}\n')
    assert main(["demo", "--no-live", "--dataset", str(bad), "--step-delay", "0"]) == EXIT_ERROR
    line = one_line_error(capsys.readouterr().err)
    assert line.startswith("arkor-rx: error: ")
    assert "bad.jsonl" in line


@pytest.mark.timeout(30)
def test_demo_ctrl_c_cancels_the_job_and_exits_130() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "arkor_rx", "demo", "--no-live", "--steps", "2000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        seen = ""
        while "step 2/" not in seen:
            line = proc.stdout.readline()
            assert line, seen
            seen += line
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:  # pragma: no cover - safety net
            proc.kill()
            proc.communicate()
    assert proc.returncode == EXIT_INTERRUPTED, seen + out + err
    assert "Traceback" not in err
    assert re.search(r"status\s+│\s+cancelled", out)
    assert "run summary" in out


# --------------------------------------------------------------------------- watch


async def submit_job(url: str, token: str) -> str:
    async with ArkorClient(url, token, "local", "demo") as client:
        job = await client.create_job(
            "watched",
            {
                "model": "unsloth/gemma-4-E4B-it",
                "datasetSource": {"type": "huggingface", "name": "arkorlab/triage-demo"},
                "maxSteps": 8,
                "loggingSteps": 1,
                "saveSteps": 4,
            },
        )
        return job.id


def use_backend(monkeypatch: pytest.MonkeyPatch, url: str, token: str) -> None:
    monkeypatch.setenv("ARKOR_CLOUD_API_URL", url)
    monkeypatch.setenv("ARKOR_TOKEN", token)
    monkeypatch.setenv("ARKOR_ORG_SLUG", "local")
    monkeypatch.setenv("ARKOR_PROJECT_SLUG", "demo")


@pytest.mark.timeout(30)
def test_watch_follows_a_job(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve_process("--token", "watch-tok") as (url, _proc, _lines):
        job_id = asyncio.run(submit_job(url, "watch-tok"))
        use_backend(monkeypatch, url, "watch-tok")
        assert main(["watch", job_id]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"job {job_id} started" in out
    assert "step 8/8" in out
    assert "checkpoint saved at step 4" in out
    assert "training completed at step 8" in out
    assert re.search(r"status\s+│\s+completed", out)
    assert re.search(r"events: \d+, lost: 0, repeated: 0", out)


@pytest.mark.timeout(30)
def test_watch_with_a_wrong_token_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve_process("--token", "right-tok") as (url, _proc, _lines):
        use_backend(monkeypatch, url, "wrong-tok")
        assert main(["watch", "job_1"]) == EXIT_ERROR
    captured = capsys.readouterr()
    line = one_line_error(captured.err)
    assert line.startswith("arkor-rx: error: ")
    assert "401" in line
    assert "wrong-tok" not in captured.err + captured.out


def test_watch_an_unreachable_server_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    use_backend(monkeypatch, f"http://127.0.0.1:{port}", "t")
    assert main(["watch", "job_1"]) == EXIT_ERROR
    line = one_line_error(capsys.readouterr().err)
    assert line.startswith("arkor-rx: error: ")


async def submit_and_cancel(url: str, token: str) -> str:
    job_id = await submit_job(url, token)
    async with ArkorClient(url, token, "local", "demo") as client:
        await client.cancel_job(job_id)
    return job_id


@pytest.mark.timeout(30)
def test_watch_a_run_that_did_not_complete_exits_non_zero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a 0.5 s step delay leaves time to cancel the 8-step job before it ends
    with serve_process("--token", "t-cancel", "--step-delay", "0.5") as (url, _proc, _lines):
        job_id = asyncio.run(submit_and_cancel(url, "t-cancel"))
        use_backend(monkeypatch, url, "t-cancel")
        assert main(["watch", job_id]) == EXIT_ERROR
    out = capsys.readouterr().out
    assert re.search(r"status\s+│\s+cancelled", out)
