"""Delete the deployment named SLUG and its keys; its URL answers 404 and the slug is
free again."""

from __future__ import annotations

import argparse

from arkor_rx.cli._common import EXIT_OK
from arkor_rx.cli._deployment import add_slug, find_deployment, shown

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add SLUG."""
    add_slug(parser)


async def run(args: argparse.Namespace) -> int:
    """Delete the deployment."""
    from arkor_rx.client import ArkorClient

    async with ArkorClient.from_env() as client:
        deployment = await find_deployment(client, args.slug)
        await client.delete_deployment(deployment.id)
    print(f"deleted deployment {shown(deployment.slug)} and its keys")
    return EXIT_OK
