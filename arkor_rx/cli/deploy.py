"""Deploy a job's final adapter (or one checkpoint with --step) under SLUG. Prints the
base URL for an OpenAI client and, with --auth key, a key (shown once).

``--auth key`` is the default; the key's plaintext is printed this
once and never again.

Rule 1: user mistakes are one line (Rule 1 of ``arkor_rx.cli``): a bad slug
is refused before anything is sent; an unknown job (404) or a taken slug
(409) is the server's message.

Rule 2: when the key cannot be issued, the deployment stays (in key mode,
with no key): the one-line error says it was created and how to issue a key.

Rule 3: the other deployment commands (``deployments``, ``undeploy``,
``keys``) name a deployment by its slug; ``arkor_rx.cli._deployment``
turns it into the deployment or a one-line error.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from arkor_rx._printable import TEXT_CHARS
from arkor_rx.cli._common import EXIT_OK
from arkor_rx.cli._deployment import shown, slug, target_text
from arkor_rx.deployments import (
    AuthMode,
    checkpoint_target,
    final_target,
)
from arkor_rx.errors import ArkorError, ConfigError

if TYPE_CHECKING:
    from arkor_rx.client import ArkorClient
    from arkor_rx.deployments import Deployment, DeploymentKeyCreated

__all__ = ["KEY_LABEL", "add_arguments", "run"]

KEY_LABEL = "arkor-rx deploy"
"""The label of the key ``deploy --auth key`` issues."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add JOB_ID and the flags."""
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
            key = await _issue_key(client, deployment)
    print(f"deployed {target_text(deployment.target)} as {shown(deployment.slug)}")
    print(f"base URL: {shown(deployment.url, TEXT_CHARS)}")
    if key is not None:
        print(f"API key:  {shown(key.plaintext, TEXT_CHARS)}")
        print("          (shown once: store it now; `arkor-rx keys` can issue more)")
    else:
        print("auth:     none (anyone with the URL may call it)")
    return EXIT_OK


async def _issue_key(client: ArkorClient, deployment: Deployment) -> DeploymentKeyCreated:
    """The deployment's first key.

    Raises:
        ArkorError: the key could not be issued; the message says that the
            deployment was created all the same and how to issue a key.
    """
    try:
        return await client.create_deployment_key(deployment.id, KEY_LABEL)
    except ArkorError as exc:
        name = shown(deployment.slug)
        raise ArkorError(
            f"deployment {name} created, but issuing its key failed: {exc}; "
            f"issue one with `arkor-rx keys {name} --create LABEL`"
        ) from exc
