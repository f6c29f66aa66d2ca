"""The ``arkor-rx`` command: serve answers, demo ends with the right status, watch follows.

A user mistake must give one line on stderr (``arkor-rx: error: ...`` or the
argparse message), a non-zero exit status, and no traceback.
"""

from __future__ import annotations

import pytest

from arkor_rx.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, main
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
