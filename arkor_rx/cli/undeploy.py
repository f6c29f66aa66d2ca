"""``arkor-rx undeploy SLUG``: delete a deployment and its keys; its URL answers 404."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from arkor_rx.cli._common import EXIT_OK
from arkor_rx.cli._deployment import find_deployment, shown, slug_parser

if TYPE_CHECKING:
    from arkor_rx.cli._common import Subparsers

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add ``undeploy``."""
    return slug_parser(
        subparsers,
        "undeploy",
        "Delete the deployment named SLUG and its keys; its URL answers 404 and the slug is "
        "free again.",
    )


async def run(args: argparse.Namespace) -> int:
    """Delete the deployment."""
    from arkor_rx.client import ArkorClient

    async with ArkorClient.from_env() as client:
        deployment = await find_deployment(client, args.slug)
        await client.delete_deployment(deployment.id)
    print(f"deleted deployment {shown(deployment.slug)} and its keys")
    return EXIT_OK
