"""``arkor-rx deploy JOB_ID --slug SLUG``: put a job's adapter behind an OpenAI-compatible URL.

Prints the base URL an OpenAI client takes and, with ``--auth key`` (the
default), a key: its plaintext is printed this once and never again.

Rule 1: user mistakes are one line (Rule 1 of ``arkor_rx.cli``): a bad slug
is refused before anything is sent; an unknown job (404) or a taken slug
(409) is the server's message.

Rule 2: the other deployment commands (``deployments``, ``undeploy``,
``keys``) name a deployment by its slug; [`find_deployment`][arkor_rx.cli.deploy.find_deployment]
turns it into the deployment or a one-line error.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rich.console import Console

from arkor_rx.cli import _live
from arkor_rx.cli._common import EXIT_OK
from arkor_rx.deployments import (
    AdapterTarget,
    AuthMode,
    BaseModelTarget,
    Deployment,
    check_deployment_slug,
    checkpoint_target,
    final_target,
)
from arkor_rx.errors import ConfigError

if TYPE_CHECKING:
    from arkor_rx.cli._common import Subparsers
    from arkor_rx.client import ArkorClient

__all__ = [
    "KEY_LABEL",
    "add_parser",
    "find_deployment",
    "run",
    "slug",
    "target_text",
    "wide_console",
]

KEY_LABEL = "arkor-rx deploy"
"""The label of the key ``deploy --auth key`` issues."""


def slug(text: str) -> str:
    """An argparse type: a deployment slug, checked as the server would."""
    try:
        return check_deployment_slug(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def target_text(target: AdapterTarget | BaseModelTarget) -> str:
    """A one-line summary of a target, as Studio's Endpoints page writes it.

    Examples:
        >>> target_text(checkpoint_target("job_1", 40))
        'checkpoint step 40 (job job_1)'
    """
    if isinstance(target, BaseModelTarget):
        return f"base model {target.base_model}"
    adapter = target.adapter
    if adapter.kind == "final":
        return f"final adapter (job {adapter.job_id})"
    return f"checkpoint step {adapter.step} (job {adapter.job_id})"


def wide_console() -> Console:
    """A console on stdout; a pipe gets 200 columns, so URLs and ids are never cut."""
    console = _live.console()
    if not console.is_terminal:
        console.width = 200
    return console


async def find_deployment(client: ArkorClient, name: str) -> Deployment:
    """The deployment with this slug.

    Raises:
        ConfigError: no deployment has it (one line, naming the slug).
    """
    for deployment in await client.list_deployments():
        if deployment.slug == name:
            return deployment
    raise ConfigError(f"no deployment with slug {name!r} (see arkor-rx deployments)")


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add ``deploy`` and its flags."""
    parser = subparsers.add_parser(
        "deploy",
        help="serve a job's adapter at an OpenAI-compatible URL",
        description="Deploy a job's final adapter (or one checkpoint with --step) under "
        "SLUG. Prints the base URL for an OpenAI client and, with --auth key, a key "
        "(shown once).",
    )
    parser.add_argument("job_id", metavar="JOB_ID", help="the job whose adapter to serve")
    parser.add_argument("--slug", required=True, type=slug, help="the URL's name, e.g. support-bot")
    parser.add_argument(
        "--step", type=int, default=None, metavar="N", help="serve the checkpoint at step N"
    )
    parser.add_argument(
        "--auth",
        choices=("none", "key"),
        default="key",
        help="key: calls need a key (default); none: anyone with the URL may call",
    )
    return parser


async def run(args: argparse.Namespace) -> int:
    """Create the deployment (and a key); print the URL and the key."""
    from arkor_rx.client import ArkorClient

    if args.step is not None and args.step < 0:
        raise ConfigError(f"--step must be zero or more, got {args.step}")
    target = (
        final_target(args.job_id)
        if args.step is None
        else checkpoint_target(args.job_id, args.step)
    )
    auth_mode: AuthMode = "fixed_api_key" if args.auth == "key" else "none"
    async with ArkorClient.from_env() as client:
        deployment = await client.create_deployment(args.slug, target, auth_mode)
        key = None
        if auth_mode == "fixed_api_key":
            key = await client.create_deployment_key(deployment.id, KEY_LABEL)
    print(f"deployed {target_text(deployment.target)} as {deployment.slug}")
    print(f"base URL: {deployment.url}")
    if key is not None:
        print(f"API key:  {key.plaintext}")
        print("          (shown once: store it now; `arkor-rx keys` can issue more)")
    else:
        print("auth:     none (anyone with the URL may call it)")
    return EXIT_OK
