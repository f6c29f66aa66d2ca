"""What the deployment commands share: the slug argument, a target's summary, the lookup by slug.

``deploy``, ``deployments``, ``undeploy`` and ``keys`` import this module, not
each other, so each command loads only its own module (Rule 4 of
[`arkor_rx.cli`][arkor_rx.cli]).

Rule: every string a server sent (a slug, a URL, a job id, a key's label, even
a key's plaintext) is printed through ``shown``: data, never terminal control
(issue 23.3, as ``arkor-rx jobs`` does).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rich.console import Console

from arkor_rx._printable import NAME_CHARS, printable
from arkor_rx.cli import _live
from arkor_rx.cli._common import checked
from arkor_rx.deployments import (
    BaseModelTarget,
    Deployment,
    check_deployment_slug,
)
from arkor_rx.errors import ConfigError

if TYPE_CHECKING:
    from arkor_rx.client import ArkorClient
    from arkor_rx.deployments import AdapterTarget

__all__ = ["add_slug", "find_deployment", "shown", "slug", "target_text", "wide_console"]


def shown(text: str, limit: int = NAME_CHARS) -> str:
    """A server's string as it may be printed: no terminal control, at most ``limit`` characters.

    Examples:
        >>> shown("bot\\x1b[2J")
        'bot\\\\x1b[2J'
    """
    return printable(text, limit)


slug = checked(check_deployment_slug)
"""An argparse type: a deployment slug, checked as the server would."""


def add_slug(parser: argparse.ArgumentParser) -> None:
    """Add the SLUG argument of a command that names a deployment (``keys``, ``undeploy``)."""
    parser.add_argument("slug", metavar="SLUG", type=slug, help="the deployment's slug")


def target_text(target: AdapterTarget | BaseModelTarget) -> str:
    """A one-line summary of a target, as Studio's Endpoints page writes it (its
    server strings ``shown``).

    Examples:
        >>> from arkor_rx.deployments import checkpoint_target
        >>> target_text(checkpoint_target("job_1", 40))
        'checkpoint step 40 (job job_1)'
    """
    if isinstance(target, BaseModelTarget):
        return f"base model {shown(target.base_model)}"
    adapter = target.adapter
    if adapter.kind == "final":
        return f"final adapter (job {shown(adapter.job_id)})"
    return f"checkpoint step {adapter.step} (job {shown(adapter.job_id)})"


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
