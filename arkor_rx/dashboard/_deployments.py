"""A run's deployments as the live views show them: the two actions and their fold.

Rule 1: [`RunDeployed`][arkor_rx.dashboard.RunDeployed] holds what a line
shows (slug, target, base URL) and nothing else: never a key, and the URL
without user info, query or fragment.

Rule 2: a run shows one line per slug; a new target replaces the old in
place, and past [`DEPLOYMENT_LIMIT`][arkor_rx.dashboard.DEPLOYMENT_LIMIT]
the oldest goes first.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from arkor_rx.errors import ConfigError

if TYPE_CHECKING:
    from arkor_rx.dashboard._state import DashboardState
    from arkor_rx.deployments import Deployment

__all__ = [
    "DEPLOYMENT_LIMIT",
    "RunDeployed",
    "RunUndeployed",
    "reduce_deployments",
    "shown_deployments",
]

DEPLOYMENT_LIMIT = 5
"""Deployments a run keeps (one per slug, the latest shown): the oldest goes first."""


def _public_url(url: str) -> str:
    """A base URL without user info, query or fragment (a deployment's URL has none)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True, slots=True)
class RunDeployed:
    """A deployment serves one of this run's adapters: its slug, target and URL.

    Build it from the client's answer with
    [`from_deployment`][arkor_rx.dashboard.RunDeployed.from_deployment]; a
    view keeps the latest few per run, one per slug. It never holds a key.

    Examples:
        >>> RunDeployed("j1", "support-bot", "https://support-bot.arkor.app/v1", step=20).target
        'checkpoint step 20'
    """

    job_id: str
    slug: str
    url: str
    """The base URL an OpenAI SDK takes (``.../v1``)."""
    step: int | None = None
    """The checkpoint's step; None for the run's final adapter."""
    enabled: bool = True
    """False while the deployment is disabled (it answers 404)."""

    @property
    def target(self) -> str:
        """``"final"`` or ``"checkpoint step N"``."""
        return "final" if self.step is None else f"checkpoint step {self.step}"

    @classmethod
    def from_deployment(cls, deployment: Deployment) -> RunDeployed:
        """The action for a deployment of a run's adapter (from ``create_deployment`` and co).

        The URL is kept without user info, query or fragment.

        Raises:
            ConfigError: the deployment serves a base model, not a run's adapter.
        """
        from arkor_rx.deployments import AdapterTarget, CheckpointAdapterRef

        target = deployment.target
        if not isinstance(target, AdapterTarget):
            raise ConfigError(
                f"deployment {deployment.slug!r} serves a base model, not a run's adapter"
            )
        ref = target.adapter
        return cls(
            job_id=ref.job_id,
            slug=deployment.slug,
            url=_public_url(deployment.url),
            step=ref.step if isinstance(ref, CheckpointAdapterRef) else None,
            enabled=deployment.enabled,
        )


@dataclass(frozen=True, slots=True)
class RunUndeployed:
    """The deployment ``slug`` no longer serves this run (deleted, or re-targeted elsewhere)."""

    job_id: str
    slug: str


def shown_deployments(
    kept: tuple[RunDeployed, ...], action: RunDeployed | RunUndeployed
) -> tuple[RunDeployed, ...]:
    """The lines after ``action`` (Rule 2); ``kept`` itself when nothing changed."""
    if isinstance(action, RunUndeployed):
        left = tuple(d for d in kept if d.slug != action.slug)
        return kept if len(left) == len(kept) else left
    if action in kept:
        return kept
    at = next((i for i, d in enumerate(kept) if d.slug == action.slug), None)
    if at is not None:
        return (*kept[:at], action, *kept[at + 1 :])
    return (*kept, action)[-DEPLOYMENT_LIMIT:]


def reduce_deployments(
    state: DashboardState, action: RunDeployed | RunUndeployed
) -> DashboardState:
    """The run's state after ``action``: ``state`` itself when nothing changed.

    Another run's deployment changes nothing (a one-run view routes every
    action to its run). A deployment does not start the run's clock.
    """
    if state.job_id and action.job_id != state.job_id:
        return state
    shown = shown_deployments(state.deployments, action)
    return state if shown is state.deployments else replace(state, deployments=shown)
