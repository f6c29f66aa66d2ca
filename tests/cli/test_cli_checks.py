"""Sink targets are checked before a job is submitted; a sink that fails in the run is named.

A path that cannot be written is one line and exit 1 before any backend
starts (the run would otherwise train and exit 0 with nothing written); a
sink that fails during the run turns a successful run's exit status into 1
and is named after the summary.
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arkor_rx.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, main
from arkor_rx.cli._checks import (
    check_sink_targets,
    file_problem,
    folder_problem,
    report_sink_failures,
)
from arkor_rx.errors import ConfigError
from arkor_rx.sinks import SinkStats


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def no_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a command starts the local backend (the job would be submitted)."""
    from arkor_rx.server import LocalServer

    async def never(self: Any) -> None:
        raise AssertionError("the backend was started before the sink targets were checked")

    monkeypatch.setattr(LocalServer, "__aenter__", never)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("x")
    return path


@pytest.mark.parametrize(
    ("flag", "value", "problem"),
    [
        ("--record", "/nonexistent/dir/x.jsonl", "the folder /nonexistent/dir does not exist"),
        ("--csv", "/nonexistent/dir/x.csv", "the folder /nonexistent/dir does not exist"),
        ("--csv", "{tmp}", "is a folder, not a file"),
        ("--tensorboard", "{file}", "is a file, not a folder"),
        ("--tensorboard", "{file}/runs", "cannot be created: {file} is a file"),
        ("--mlflow", "sqlite:////nonexistent/m.db", "the folder /nonexistent does not exist"),
        ("--mlflow", "{file}", "is a file, not a folder"),
    ],
)
@pytest.mark.parametrize("sweep", [[], ["--sweep"]])
@pytest.mark.usefixtures("no_backend")
def test_demo_refuses_a_sink_target_that_cannot_be_written_before_it_starts(
    flag: str,
    value: str,
    problem: str,
    sweep: list[str],
    tmp_path: Path,
    a_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    value = value.format(tmp=tmp_path, file=a_file)
    problem = problem.format(file=a_file)
    assert main(["demo", *sweep, "--no-live", flag, value]) == EXIT_ERROR
    captured = capsys.readouterr()
    assert one_line(captured.err) == f"arkor-rx: error: {flag} {value}: {problem}"
    assert captured.out == ""


@pytest.mark.usefixtures("no_backend")
def test_a_prometheus_port_in_use_is_named(
    busy_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--prometheus", str(busy_port)]) == EXIT_ERROR
    line = one_line(capsys.readouterr().err)
    expected = f"--prometheus {busy_port}: port {busy_port} is already in use on 127.0.0.1"
    assert line == f"arkor-rx: error: {expected}"


def test_watch_and_replay_check_before_reading_or_connecting(
    tmp_path: Path,
    a_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ARKOR_CLOUD_API_URL", raising=False)
    assert main(["watch", "job_1", "--record", "/nonexistent/r.jsonl"]) == EXIT_ERROR
    assert "--record /nonexistent/r.jsonl: the folder /nonexistent" in one_line(
        capsys.readouterr().err
    )
    assert main(["replay", str(a_file), "--tensorboard", str(a_file)]) == EXIT_ERROR
    assert one_line(capsys.readouterr().err).endswith(
        f"--tensorboard {a_file}: is a file, not a folder"
    )


def test_record_refuses_stdout_and_a_missing_folder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record", "job_1", "-"]) == EXIT_USAGE
    assert one_line(capsys.readouterr().err) == (
        "arkor-rx record: error: FILE -: writing to stdout is not supported here: "
        "give a file name (see arkor-rx record --help)"
    )
    assert main(["record", "job_1", "/nonexistent/r.jsonl"]) == EXIT_USAGE
    assert "the folder /nonexistent does not exist" in one_line(capsys.readouterr().err)
    assert not Path("-").exists()


def test_demo_max_concurrent_needs_sweep(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--max-concurrent", "3"]) == EXIT_USAGE
    assert one_line(capsys.readouterr().err) == (
        "arkor-rx demo: error: --max-concurrent goes with --sweep (see arkor-rx demo --help)"
    )


def test_targets_that_can_be_written_pass(tmp_path: Path) -> None:
    tmp_path = tmp_path / "work"
    tmp_path.mkdir()
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert file_problem(str(tmp_path / "new.jsonl")) is None
    assert file_problem(str(a_file)) is None  # an existing file is appended to or replaced
    assert folder_problem(str(tmp_path)) is None
    assert folder_problem(str(tmp_path / "not" / "yet")) is None  # created by the sink
    args = argparse.Namespace(
        record=str(tmp_path / "r.jsonl"),
        csv=None,
        tensorboard=str(tmp_path / "tb"),
        mlflow=f"sqlite:///{tmp_path}/m.db",
        prometheus=0,
    )
    check_sink_targets(args)
    assert list(tmp_path.iterdir()) == [a_file]  # the checks created nothing
    args.mlflow = "http://127.0.0.1:5000"  # a tracking server is not checked here
    check_sink_targets(args)
    args.record = "-"
    with pytest.raises(ConfigError, match="--record -: writing to stdout"):
        check_sink_targets(args)


class _Failing:
    name = "Flaky"

    def __init__(self, errors: int) -> None:
        self.stats = SinkStats(errors=errors, last_error="OSError: disk full")


def test_a_failed_sink_is_named_and_fails_a_successful_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from rich.console import Console

    console = Console(highlight=False)
    assert report_sink_failures(console, [_Failing(0)], EXIT_OK) == EXIT_OK
    assert capsys.readouterr().out == ""
    assert report_sink_failures(console, [_Failing(2), _Failing(0)], EXIT_OK) == EXIT_ERROR
    assert capsys.readouterr().out == (
        "arkor-rx: sink Flaky failed 2 times; last error: OSError: disk full\n"
    )
    assert report_sink_failures(console, [_Failing(1)], 130) == 130  # Ctrl-C stays Ctrl-C


def test_a_sink_failing_during_the_demo_makes_it_exit_1_and_is_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A webhook whose port refuses connections: the run completes, its notices are not delivered.
    with socket.socket() as refusing:
        refusing.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        url = f"http://127.0.0.1:{refusing.getsockname()[1]}/hook"
        status = main(["demo", "--no-live", "--steps", "4", "--step-delay", "0", "--webhook", url])
    out = capsys.readouterr().out
    assert "training completed at step 4" in out
    assert status == EXIT_ERROR
    failed = [line for line in out.splitlines() if line.startswith("arkor-rx: sink ")]
    assert len(failed) == 1
    assert failed[0].startswith("arkor-rx: sink Webhook failed")
    assert "not delivered" in failed[0]


needs_dev_full = pytest.mark.skipif(
    not Path("/dev/full").exists(), reason="needs /dev/full (every write fails: ENOSPC)"
)


@needs_dev_full
def test_a_recording_that_cannot_be_written_fails_the_demo_and_is_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(
        ["demo", "--no-live", "--steps", "4", "--step-delay", "0", "--record", "/dev/full"]
    )
    out = capsys.readouterr().out
    assert "training completed at step 4" in out
    assert status == EXIT_ERROR
    (failed,) = [line for line in out.splitlines() if line.startswith("arkor-rx: sink ")]
    assert failed.startswith("arkor-rx: sink JSONL failed")
    assert "No space left on device" in failed


@needs_dev_full
def test_record_says_when_its_file_could_not_be_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from tests.cli.test_cli import serve_process, submit_job, use_backend

    with serve_process("--token", "rec-tok") as (url, _proc, _lines):
        job_id = asyncio.run(submit_job(url, "rec-tok"))
        use_backend(monkeypatch, url, "rec-tok")
        assert main(["record", job_id, "/dev/full"]) == EXIT_ERROR
    captured = capsys.readouterr()
    assert "recorded" not in captured.out  # it never says it recorded what it could not write
    assert captured.err.startswith("arkor-rx: error: could not write /dev/full")
