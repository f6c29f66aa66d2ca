"""List the keys of the deployment SLUG, issue one (--create LABEL: the key is shown
once) or revoke one (--revoke KEY_ID).

Without a flag, a table of the keys (never a plaintext). ``--create`` prints
the new key's plaintext this once; ``--revoke`` disables a key at once.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rich import box
from rich.table import Table
from rich.text import Text

from arkor_rx._printable import TEXT_CHARS
from arkor_rx.cli._common import EXIT_OK, checked
from arkor_rx.cli._deployment import add_slug, find_deployment, shown, wide_console
from arkor_rx.deployments import DeploymentKey, check_key_label

__all__ = ["add_arguments", "keys_table", "run"]


_label = checked(check_key_label)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add SLUG and --create or --revoke."""
    add_slug(parser)
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--create", type=_label, metavar="LABEL", help="issue a key")
    action.add_argument("--revoke", metavar="KEY_ID", help="revoke a key")


def keys_table(keys: Sequence[DeploymentKey]) -> Table:
    """The keys as a rich table: id, label, prefix, state, created, last used."""
    table = Table(box=box.SIMPLE_HEAD)
    for name in ("id", "label", "prefix", "state", "created", "last used"):
        # folded, never cut: a long cell (a server's) cannot squeeze the other columns out
        table.add_column(name, overflow="fold")
    for key in keys:
        table.add_row(  # the server's strings: as written, no markup or terminal control
            Text(shown(key.id)),
            Text(shown(key.label)),
            Text(shown(key.prefix) + "…"),
            "[green]active[/]" if key.enabled else "[red]revoked[/]",
            Text(shown(key.created_at or "—")),
            Text(shown(key.last_used_at or "—")),
        )
    return table


async def run(args: argparse.Namespace) -> int:
    """List, create or revoke."""
    from arkor_rx.client import ArkorClient

    async with ArkorClient.from_env() as client:
        deployment = await find_deployment(client, args.slug)
        if args.create is not None:
            key = await client.create_deployment_key(deployment.id, args.create)
            print(f"issued key {shown(key.id)} ({shown(key.label)}) for {shown(deployment.slug)}")
            print(f"API key: {shown(key.plaintext, TEXT_CHARS)}")
            print("         (shown once: store it now)")
            return EXIT_OK
        if args.revoke is not None:
            await client.revoke_deployment_key(deployment.id, args.revoke)
            print(f"revoked key {shown(args.revoke)} of {shown(deployment.slug)}")
            return EXIT_OK
        keys = await client.list_deployment_keys(deployment.id)
    console = wide_console()
    console.print(keys_table(keys) if keys else Text(f"{shown(deployment.slug)} has no keys"))
    return EXIT_OK
