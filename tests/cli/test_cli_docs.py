"""The CLI reference and the README's command table are what the parser says, and stay so.

``tools/cli_docs.py`` renders both from ``build_parser()``; these tests fail
when a command or flag changed and the script was not run again.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from arkor_rx.cli import EXIT_OK, build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def cli_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cli_docs", ROOT / "tools" / "cli_docs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shown(markdown: str) -> str:
    """What a reader sees: the page without its HTML comments."""
    return re.sub(r"<!--.*?-->", "", markdown, flags=re.DOTALL)


def test_the_committed_reference_page_is_the_generated_one() -> None:
    docs = cli_docs()
    committed = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    assert committed == docs.render_page(build_parser()), "run python tools/cli_docs.py"


def test_the_readme_table_is_the_generated_one() -> None:
    docs = cli_docs()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme == docs.render_readme(build_parser(), readme), "run python tools/cli_docs.py"


def test_check_mode_passes_on_the_committed_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_docs().main(["--check"]) == 0
    assert capsys.readouterr().out == ""


def test_every_command_and_flag_is_documented_with_the_exit_statuses() -> None:
    parser = build_parser()
    page = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = cli_docs().subcommands(parser)
    assert len(commands) >= 8
    for name, _, sub in commands:
        assert f"\n## arkor-rx {name}\n" in page
        assert f"[`arkor-rx {name}`](docs/reference/cli.md#arkor-rx-{name})" in readme
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):  # every command has it; said once
                continue
            for flag in action.option_strings:
                assert f"`{flag}" in page or f", {flag}" in page, (name, flag)
    for status in ("| 0 |", "| 1 |", "| 2 |", "| 130 |"):
        assert status in page


def test_a_command_added_to_the_parser_appears_on_the_page_and_in_the_table() -> None:
    docs = cli_docs()
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    added = sub.add_parser("frobnicate", help="frobnicate a job", description="Frobnicate it.")
    added.add_argument("job_id", metavar="JOB_ID", help="the job")
    added.add_argument("--hard", type=int, default=3, metavar="N", help="how hard")
    page = docs.render_page(parser)
    assert "## arkor-rx frobnicate" in page
    assert "arkor-rx frobnicate [--hard N] JOB_ID" in page
    assert "| `--hard N` | how hard (default: `3`) |" in page
    assert "[`arkor-rx frobnicate`](#arkor-rx-frobnicate) | frobnicate a job |" in page
    table = docs.render_readme(parser, "a\n<!-- commands:start -->\nold\n<!-- commands:end -->\nb")
    assert "frobnicate a job" in table
    assert "old" not in table
    assert table.endswith("-->\nb")


def test_the_page_shows_no_internal_names() -> None:
    page = shown((ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8"))
    for internal in ("EXIT_", "COMMANDS", "build_parser", "Rule ", "_common", "Subparsers"):
        assert internal not in page


def test_usage_lines_do_not_depend_on_the_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = cli_docs()
    monkeypatch.setenv("COLUMNS", "40")
    narrow = docs.render_page(build_parser())
    monkeypatch.setenv("COLUMNS", "300")
    assert docs.render_page(build_parser()) == narrow
    serve_usage = narrow.split("```text\n")[2].split("```")[0]
    assert all(len(line) <= 88 for line in serve_usage.splitlines())


def test_serve_help_states_its_default_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--help"]) == EXIT_OK
    assert re.search(r"--port PORT\s+port \(default 8765;", capsys.readouterr().out)


def test_the_defaults_the_help_states_are_the_servers_and_the_parsers() -> None:
    from arkor_rx.server.config import DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT

    (serve,) = [sub for name, _, sub in cli_docs().subcommands(build_parser()) if name == "serve"]
    helps = {a.dest: a.help or "" for a in serve._actions}
    assert f"(default {DEFAULT_HEADER_TIMEOUT:g})" in helps["header_timeout"]
    assert f"(default {DEFAULT_BODY_TIMEOUT:g})" in helps["body_timeout"]
    page = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    assert "| `--port PORT` | port (default 8765; 0: any free one) |" in page
    assert "| `--steps N` | max steps (default 60) |" in page
