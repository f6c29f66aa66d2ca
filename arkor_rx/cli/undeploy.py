"""``arkor-rx undeploy SLUG``: delete a deployment and its keys; its URL answers 404."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from arkor_rx.cli._commands import HELP
from arkor_rx.cli._common import EXIT_OK
from arkor_rx.cli._deployment import find_deployment, shown, slug

if TYPE_CHECKING:
    from arkor_rx.cli._common import Subparsers

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add ``undeploy``."""
    parser = subparsers.add_parser(
        "undeploy",
        help=HELP["undeploy"],
        description="Delete the deployment named SLUG and its keys; its URL answers 404 "
        "and the slug is free again.",
    )
    parser.add_argument("slug", metavar="SLUG", type=slug, help="the deployment's slug")
    return parser


async def run(args: argparse.Namespace) -> int:
    """Delete the deployment."""
    from arkor_rx.client import ArkorClient

    async with ArkorClient.from_env() as client:
        deployment = await find_deployment(client, args.slug)
        await client.delete_deployment(deployment.id)
    print(f"deleted deployment {shown(deployment.slug)} and its keys")
    return EXIT_OK
