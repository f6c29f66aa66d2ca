"""The CLI package: one module per command, registered in one list."""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable

import pytest

import arkor_rx.cli as cli
from arkor_rx.cli import COMMANDS, EXIT_USAGE, build_parser, main
from arkor_rx.cli._common import (
    Parser,
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
    ]
    for command in COMMANDS:
        assert callable(command.add_parser)
        assert callable(command.run)


def test_a_new_command_is_a_module_and_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Hello:
        @staticmethod
        def add_parser(subparsers: argparse._SubParsersAction[Parser]) -> Parser:
            parser = subparsers.add_parser("hello")
            parser.add_argument("--name", default="you")
            return parser

        @staticmethod
        async def run(args: argparse.Namespace) -> int:
            print(f"hello {args.name}")
            return 7

    monkeypatch.setattr(cli, "COMMANDS", (*COMMANDS, Hello()))
    assert main(["hello", "--name", "arkor"]) == 7
    assert capsys.readouterr().out == "hello arkor\n"
    assert main(["hello", "--nope"]) == EXIT_USAGE
    assert "error: unrecognized arguments: --nope" in capsys.readouterr().err


def test_run_may_be_sync_or_async() -> None:
    by_name = {c.__name__.rsplit(".", 1)[-1]: c for c in COMMANDS}  # type: ignore[attr-defined]
    assert inspect.iscoroutinefunction(by_name["serve"].run)
    assert not inspect.iscoroutinefunction(by_name["version"].run)


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
