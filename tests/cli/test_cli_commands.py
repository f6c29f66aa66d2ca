"""The CLI package: one module per command, registered in one table, loaded only when named."""

from __future__ import annotations

import argparse
import ast
import inspect
import subprocess
import sys
import types
from collections.abc import Callable

import pytest

from arkor_rx.cli import EXIT_USAGE, _description, build_parser, main
from arkor_rx.cli._commands import HELP, MODULES, load
from arkor_rx.cli._common import (
    non_negative_float,
    port,
    positive_float,
    positive_int,
)


def _subcommands(parser: argparse.ArgumentParser) -> list[str]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(actions[0].choices)


def test_every_command_module_registers_itself_and_runs() -> None:
    assert _subcommands(build_parser()) == [
        "serve",
        "demo",
        "watch",
        "record",
        "replay",
        "dashboard",
        "jobs",
        "cancel",
        "version",
        "deploy",
        "deployments",
        "undeploy",
        "keys",
    ]
    assert list(HELP) == list(MODULES)
    for name in MODULES:
        command = load(name)
        assert _description(command), name  # the first paragraph of its docstring
        assert callable(command.add_arguments)
        assert callable(command.run)


def _helps(parser: argparse.ArgumentParser) -> dict[str, str | None]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {a.dest: a.help for a in actions[0]._choices_actions}


def test_help_reads_the_same_whether_a_command_is_loaded_or_not() -> None:
    listed = _helps(build_parser(only=""))
    assert listed == _helps(build_parser())
    assert listed == HELP


def test_a_new_command_is_a_module_and_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hello = types.ModuleType("hello_command")

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--name", default="you")

    async def run(args: argparse.Namespace) -> int:
        print(f"hello {args.name}")
        return 7

    hello.__doc__ = "Say hello\nto NAME.\n\nRule 1: not shown."
    hello.add_arguments = add_arguments  # type: ignore[attr-defined]
    hello.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "hello_command", hello)
    monkeypatch.setitem(MODULES, "hello", "hello_command")
    monkeypatch.setitem(HELP, "hello", "say hello")
    assert main(["hello", "--name", "arkor"]) == 7
    assert capsys.readouterr().out == "hello arkor\n"
    assert main(["hello", "--nope"]) == EXIT_USAGE
    assert "error: unrecognized arguments: --nope" in capsys.readouterr().err
    assert main(["hello", "--help"]) == 0
    shown = capsys.readouterr().out
    assert "Say hello to NAME." in shown
    assert "Rule 1" not in shown


def test_help_without_docstrings_shows_the_one_line_help() -> None:
    # python -OO drops docstrings, where each command's description lives.
    out = subprocess.run(
        [sys.executable, "-OO", "-m", "arkor_rx", "cancel", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"\n{HELP['cancel']}\n" in out
    assert "Ask the backend to cancel the job" not in out


def test_run_may_be_sync_or_async() -> None:
    assert inspect.iscoroutinefunction(load("serve").run)
    assert not inspect.iscoroutinefunction(load("version").run)


HEAVY = ("aiohttp", "reactivex", "pydantic", "numpy", "rich", "tensorboardX", "mlflow")


def _loaded_by(code: str) -> tuple[list[str], list[str]]:
    """(heavy libraries, arkor_rx.cli command modules) a fresh interpreter loaded running code."""
    probe = (
        "import contextlib, io, sys\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    {code}\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
        "print(sorted(m for m in sys.modules if m.startswith('arkor_rx.cli.')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    heavy, ours = out.stdout.splitlines()
    return ast.literal_eval(heavy), ast.literal_eval(ours)


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["version"]])
def test_help_and_version_start_without_the_heavy_libraries(argv: list[str]) -> None:
    heavy, ours = _loaded_by(f"from arkor_rx.cli import main; main({argv!r})")
    assert heavy == []
    loaded = {m.rsplit(".", 1)[1] for m in ours} & set(MODULES)
    assert loaded == ({"version"} if "version" in argv else set())


@pytest.mark.parametrize("name", list(MODULES))
def test_a_command_loads_no_other_command(name: str) -> None:
    _, ours = _loaded_by(f"from arkor_rx.cli import build_parser; build_parser(only={name!r})")
    assert {m.rsplit(".", 1)[1] for m in ours} & set(MODULES) == {name}


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (port, "http", "not a port number: 'http'"),
        (port, "-1", "port out of range 0-65535: -1"),
        (positive_int, "1.5", "not a whole number: '1.5'"),
        (positive_int, "-3", "must be positive: -3"),
        (positive_float, "abc", "not a number: 'abc'"),
        (positive_float, "nan", "must be a positive number: nan"),
        (positive_float, "inf", "must be a positive number: inf"),
        (non_negative_float, "x", "not a number: 'x'"),
        (non_negative_float, "-0.5", "must be zero or more: -0.5"),
        (non_negative_float, "inf", "must be zero or more: inf"),
    ],
)
def test_argument_types_say_what_was_wrong(
    parse: Callable[[str], object], text: str, message: str
) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("parse", "text", "value"),
    [
        (port, "0", 0),
        (port, "65535", 65535),
        (positive_int, "7", 7),
        (positive_float, "2e-4", 2e-4),
        (non_negative_float, "0", 0.0),
    ],
)
def test_argument_types_accept_good_values(
    parse: Callable[[str], object], text: str, value: object
) -> None:
    assert parse(text) == value
