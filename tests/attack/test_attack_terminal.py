"""Attack: a server's strings reach a terminal (``jobs``, ``watch``, ``watch --all``,
LiveDashboard, ``deploy``, ``deployments``, ``keys``): no ESC or C1 byte from the
server may, and rich markup is literal."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from rich.console import Console

from arkor_rx._printable import NAME_CHARS, printable
from arkor_rx.cli import EXIT_ERROR, main
from arkor_rx.dashboard import LiveDashboard
from arkor_rx.events import TrainingFailed, TrainingLog, TrainingStarted
from arkor_rx.jobs import TrainingJob
from arkor_rx.sinks import Outcome
from tests.attack.hostile import (
    HOSTILE,
    SERVER_CONTROL,
    Answer,
    HostileServer,
    deployment,
    deployment_key,
    job,
    stream,
)

SHOWN = printable(HOSTILE)
"""How the hostile string is shown: its controls as visible escapes."""


def _clean(output: str) -> None:
    for sequence in SERVER_CONTROL:
        assert sequence not in output, f"{sequence!r} from the server reached the terminal"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        one = job("j1", name=HOSTILE, error=HOSTILE)
        hostile.routes["/v1/jobs"] = Answer.of({"jobs": [one]})
        hostile.routes["/v1/jobs/j1"] = Answer.of({"job": one, "events": []})
        hostile.routes["/v1/jobs/j1/events/stream"] = Answer(
            stream("j1", HOSTILE), content_type="text/event-stream"
        )
        # "bot" is found by its slug (a slug the CLI accepts); the other is hostile throughout.
        deployments = [deployment("d1", slug="bot"), deployment("d2", slug=HOSTILE)]
        hostile.routes["/v1/endpoints"] = Answer.of({"deployments": deployments})
        hostile.routes["/v1/endpoints/d1/keys"] = Answer.of({"keys": [deployment_key()]})
        for key, value in hostile.env().items():
            monkeypatch.setenv(key, value)
        yield hostile


def test_printable_shows_every_control_as_an_escape() -> None:
    assert SHOWN.startswith("evil\\x1b]52;c;aGFja2Vk\\x07\\x1b]0;owned\\x07\\x1b[2J\\x9b2J")
    assert printable("tab\tand\nnewline") == "tab\tand\nnewline"
    assert printable("\u202eevil") == "\\u202eevil"  # a bidi override reorders the line
    assert all(printable(chr(c)) != chr(c) for c in [*range(9), *range(11, 32), *range(127, 160)])
    assert len(printable("x" * 400_000, NAME_CHARS)) == NAME_CHARS


def test_jobs_shows_the_server_strings_as_data(
    server: HostileServer, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    marked = job("j2", name="[bold]x[/bold] :thumbs_up:", status="completed")
    server.routes["/v1/jobs"] = Answer.of({"jobs": [job("j1", name=HOSTILE), marked]})
    assert main(["jobs"]) == 0
    out, err = capfd.readouterr()
    _clean(out + err)
    assert SHOWN[:40] in out
    assert "[bold]x[/bold] :thumbs_up:" in out  # markup and emoji codes are literal


def test_a_server_error_is_one_clean_line(
    server: HostileServer, capfd: pytest.CaptureFixture[str]
) -> None:
    server.routes["/v1/jobs"] = Answer.of({"error": HOSTILE + "\nsecond line"}, 500)
    assert main(["jobs"]) == EXIT_ERROR
    out, err = capfd.readouterr()
    _clean(out + err)
    assert err.count("\n") == 1
    assert err.startswith("arkor-rx: error: evil\\x1b]52")


@pytest.mark.parametrize("argv", [["watch", "j1", "--no-live"], ["watch", "--all", "--no-live"]])
def test_watch_lines_show_the_server_strings_as_data(
    server: HostileServer, capfd: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    main(argv)
    out, err = capfd.readouterr()
    _clean(out + err)
    assert "training failed: evil\\x1b]52" in out


async def test_live_dashboard_draws_the_server_strings_as_data() -> None:
    file = io.StringIO()
    console = Console(file=file, force_terminal=True, width=100, color_system="truecolor")
    view = LiveDashboard(console, live=True)
    bad = TrainingJob.model_validate(job("j1\x1b[2J", name=HOSTILE))
    with view:
        await view.open(bad)
        await view.write(
            [
                TrainingStarted(job_id=bad.id),
                TrainingLog(job_id=bad.id, step=1, loss=1.0),
                TrainingFailed(job_id=bad.id, error=HOSTILE),
            ]
        )
        await view.close(Outcome("failed", bad.id, error=HOSTILE))
    view.print_summary()
    _clean(file.getvalue())
    assert "[bold]x[/bold]" in file.getvalue()


async def test_live_dashboard_draws_a_400000_character_name_bounded() -> None:
    file = io.StringIO()
    view = LiveDashboard(Console(file=file, width=100), live=False)
    for n in (1, 2):  # two runs: the runs table, one row each
        await view.open(TrainingJob.model_validate(job(f"j{n}", name="N" * 400_000)))
        await view.write([TrainingLog(job_id=f"j{n}", step=1, loss=1.0)])
    view.print_summary()
    assert len(file.getvalue()) < 20_000  # what is drawn is bounded, not the name


def _run_in_pty(argv: list[str], env: dict[str, str]) -> bytes:
    """The bytes a command writes to a terminal (a pty), to its end."""
    main_fd, child_fd = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "arkor_rx", *argv],
        stdin=subprocess.DEVNULL,
        stdout=child_fd,
        stderr=child_fd,
        env=env,
    )
    os.close(child_fd)
    out = bytearray()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main_fd], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(main_fd, 65536)
            except OSError:  # EIO: the command closed the terminal
                break
            if not chunk:
                break
            out += chunk
    finally:
        process.kill() if process.poll() is None else None
        process.wait(30)
        os.close(main_fd)
    return bytes(out)


@pytest.mark.parametrize("argv", [["deployments"], ["keys", "bot"]])
def test_deployments_and_keys_show_the_server_strings_as_data(
    server: HostileServer, capfd: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main(argv) == 0
    out, err = capfd.readouterr()
    _clean(out + err)
    assert "evil\\x1b]52;c;" in out  # a long cell is folded: its start is on one line
    assert "[bold]x[/bold]" in out  # markup is literal


def test_deploy_and_a_new_key_show_the_server_strings_as_data(
    server: HostileServer, capfd: pytest.CaptureFixture[str]
) -> None:
    created = deployment("d1", slug="bot")
    server.routes["/v1/endpoints"] = Answer.of({"deployment": created})
    server.routes["/v1/endpoints/d1/keys"] = Answer.of({"key": deployment_key()})
    assert main(["deploy", "j1", "--slug", "bot"]) == 0
    server.routes["/v1/endpoints"] = Answer.of({"deployments": [created]})
    assert main(["keys", "bot", "--create", "staging"]) == 0
    out, err = capfd.readouterr()
    _clean(out + err)
    assert out.count(f"API key:  {SHOWN}") == 1  # deploy's key
    assert out.count(f"API key: {SHOWN}") == 1  # keys --create's key
    assert f"base URL: {SHOWN}" in out
    assert f"issued key {printable(HOSTILE, NAME_CHARS)}" in out


@pytest.mark.parametrize("argv", [["watch", "j1"], ["jobs"], ["deployments"], ["keys", "bot"]])
def test_under_a_pty_no_server_control_reaches_the_terminal(
    server: HostileServer, argv: list[str]
) -> None:
    env = {**os.environ, **server.env(), "TERM": "xterm-256color", "COLUMNS": "100"}
    raw = _run_in_pty(argv, env)
    text = raw.decode("utf-8", errors="replace")
    _clean(text)
    assert b"\xc2\x9b" not in raw  # the C1 CSI, as UTF-8
    assert "evil\\x1b]52" in text
