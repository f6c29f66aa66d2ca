"""List the deployments of the project: slug, target, auth, state, URL."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rich import box
from rich.table import Table
from rich.text import Text

from arkor_rx._printable import TEXT_CHARS
from arkor_rx.cli._common import EXIT_OK
from arkor_rx.cli._deployment import shown, target_text, wide_console
from arkor_rx.deployments import Deployment

__all__ = ["add_arguments", "deployments_table", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add nothing: the command takes no arguments."""


def deployments_table(deployments: Sequence[Deployment]) -> Table:
    """The deployments as a rich table (a pure function of its input); the server's
    strings as data, never markup or terminal control."""
    table = Table(box=box.SIMPLE_HEAD)
    for name in ("slug", "target", "auth", "state", "url"):
        table.add_column(name, no_wrap=name in ("slug", "url"))
    for dep in deployments:
        table.add_row(
            Text(shown(dep.slug)),
            Text(target_text(dep.target)),
            "key" if dep.auth_mode == "fixed_api_key" else "none",
            "[green]enabled[/]" if dep.enabled else "[yellow]disabled[/]",
            Text(shown(dep.url, TEXT_CHARS)),
        )
    return table


async def run(args: argparse.Namespace) -> int:
    """Print the deployments table."""
    from arkor_rx.client import ArkorClient

    async with ArkorClient.from_env() as client:
        deployments = await client.list_deployments()
    console = wide_console()
    console.print(deployments_table(deployments) if deployments else "no deployments")
    return EXIT_OK
