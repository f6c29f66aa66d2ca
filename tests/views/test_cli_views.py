"""``arkor-rx watch`` on a job it did not submit: honest status, time and checkpoints."""

from __future__ import annotations

import asyncio
import re

import pytest

from arkor_rx.cli import EXIT_OK, EXIT_USAGE, main
from tests.cli.test_cli import serve_process, submit_job, use_backend


def test_watch_says_following_not_submitted_and_asks_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve_process("--token", "views-tok") as (url, _proc, _lines):
        job_id = asyncio.run(submit_job(url, "views-tok"))
        use_backend(monkeypatch, url, "views-tok")
        assert main(["watch", job_id]) == EXIT_OK
    out = capsys.readouterr().out
    assert "submitted" not in out
    assert re.search(rf"following job {job_id}: \S+ \((queued|running|completed), 8 steps\)", out)
    assert "(asking…)" not in out
    assert "training completed at step 8" in out


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    from arkor_rx.protocol import __version__

    assert main(["--version"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == f"arkor-rx {__version__}"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["demo", "--bogus"], "arkor-rx demo: error: unrecognized arguments: --bogus"),
        (["demo", "--steps", "ten"], "arkor-rx demo: error: argument --steps: not a whole number"),
        (["watch", "j1", "extra"], "arkor-rx watch: error: unrecognized arguments: extra"),
    ],
)
def test_a_usage_error_names_the_subcommand(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(expected)
    assert err.strip().endswith(f"(see arkor-rx {argv[0]} --help)")
    assert len(err.strip().splitlines()) == 1


def test_fail_at_step_beyond_the_last_step_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--steps", "5", "--fail-at-step", "9", "--no-live"]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.err.strip() == (
        "arkor-rx demo: error: --fail-at-step 9 is beyond the last step (--steps 5); "
        "the run would never fail"
    )
    assert captured.out == ""


def test_a_mistyped_dataset_type_suggests_the_right_one() -> None:
    import arkor_rx as ax

    with pytest.raises(ax.ConfigError) as info:
        ax.create_trainer(
            name="x", model="m", dataset={"type": "hugingface", "name": "a/b"}, max_steps=3
        )
    message = str(info.value)
    assert "did you mean 'huggingface'?" in message
    assert "(root)" not in message
    assert "tag" not in message


def test_serve_prints_everything_needed_to_connect() -> None:
    with serve_process() as (url, _proc, lines):
        token = next(line.split()[-1] for line in lines if line.startswith("token: "))
        text = "\n".join(lines)
    assert f"export ARKOR_CLOUD_API_URL={url} ARKOR_TOKEN={token}" in text
    assert "ARKOR_ORG_SLUG=local ARKOR_PROJECT_SLUG=demo" in text
    assert f'ax.ArkorClient("{url}", token="{token}", org_slug="local",' in text
    assert "arkor-rx watch JOB_ID" in text


def test_the_shell_lines_serve_prints_export_all_four_variables_when_pasted() -> None:
    import subprocess

    from arkor_rx.cli.serve import connect_text

    lines = connect_text("http://127.0.0.1:8765", "t0k").splitlines()
    start = next(i for i, line in enumerate(lines) if "export " in line)
    shell = "\n".join(lines[start : start + 2]) + "\nenv\n"
    env = subprocess.run(
        ["sh", "-c", shell], capture_output=True, text=True, check=True, env={}
    ).stdout.splitlines()
    assert {
        "ARKOR_CLOUD_API_URL=http://127.0.0.1:8765",
        "ARKOR_TOKEN=t0k",
        "ARKOR_ORG_SLUG=local",
        "ARKOR_PROJECT_SLUG=demo",
    } <= set(env)


def test_serve_prints_a_pasteable_line_with_the_token_the_user_chose() -> None:
    # The user typed it on this terminal: the export line holds it (shell-quoted), so that
    # pasting it works; it is not repeated on a "token:" line as a generated one is.
    with serve_process("--token", "my secret'tok") as (_url, _proc, lines):
        text = "\n".join(lines)
    assert "ARKOR_TOKEN='my secret'\"'\"'tok' \\" in text
    assert not any(line.startswith("token:") for line in lines)


def test_the_licence_is_an_spdx_string_with_a_setuptools_that_reads_it() -> None:
    # A licence table makes setuptools >= 77 print a deprecation warning at every build
    # (`make demo` showed it); the SPDX string needs setuptools >= 77.
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"
    assert "setuptools>=77" in project["build-system"]["requires"]
    assert not any("License ::" in c for c in project["project"].get("classifiers", []))
