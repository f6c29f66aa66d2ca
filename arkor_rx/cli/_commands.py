"""The table of ``arkor-rx``'s commands: each one's name, module and one-line help.

Rule 1: this module imports no command. ``arkor-rx --help`` and ``--version``
build their parser from this table alone, and a command imports only its own
module ([`main`][arkor_rx.cli.main] loads the one named on the command line),
so the command starts at once and pays only for what it uses.

Rule 2: the one-line help lives here and nowhere else:
[`build_parser`][arkor_rx.cli.build_parser] gives every subcommand
``help=HELP[name]``, so ``--help`` reads the same whether the command's
module was loaded or not.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arkor_rx.cli import Command

__all__ = ["HELP", "MODULES", "load"]

MODULES: dict[str, str] = {
    "serve": "arkor_rx.cli.serve",
    "demo": "arkor_rx.cli.demo",
    "watch": "arkor_rx.cli.watch",
    "record": "arkor_rx.cli.record",
    "replay": "arkor_rx.cli.replay",
    "dashboard": "arkor_rx.cli.dashboard",
    "jobs": "arkor_rx.cli.jobs",
    "cancel": "arkor_rx.cli.cancel",
    "version": "arkor_rx.cli.version",
    "deploy": "arkor_rx.cli.deploy",
    "deployments": "arkor_rx.cli.deployments",
    "undeploy": "arkor_rx.cli.undeploy",
    "keys": "arkor_rx.cli.keys",
}
"""Each command's module, in the order ``--help`` lists them."""

HELP: dict[str, str] = {
    "serve": "run the local training backend",
    "demo": "train a small triage model on a local backend, with a live view",
    "watch": "attach the live view to a job on any backend",
    "record": "record a job's events to a file (replay it with `replay`)",
    "replay": "show a recording in the live view, or backfill sinks from it",
    "dashboard": "every run live in a web browser",
    "jobs": "list the project's jobs, newest first",
    "cancel": "cancel a job on the backend",
    "version": "print the version",
    "deploy": "serve a job's adapter at an OpenAI-compatible URL",
    "deployments": "list the project's deployments",
    "undeploy": "delete a deployment and its keys",
    "keys": "list, issue or revoke a deployment's keys",
}
"""Each command's one-line help, as ``arkor-rx --help`` lists it."""


def load(name: str) -> Command:
    """The module of the command ``name`` (imported now, if it was not yet)."""
    module: Command = importlib.import_module(MODULES[name])
    return module
