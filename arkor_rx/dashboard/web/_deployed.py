"""A backend's deployments, shown on the runs they serve (``arkor-rx dashboard``).

Rule 1: the deployment list is read with the job list; each deployment of a
run's adapter is shown on that run as a
[`RunDeployed`][arkor_rx.dashboard.RunDeployed] (slug, target, URL; the list
never carries a key). A slug that is gone, or now serves another run, leaves
its old run ([`RunUndeployed`][arkor_rx.dashboard.RunUndeployed]).

Rule 2: only runs the dashboard shows get a line (a deployment of a job not
listed yet waits for it); a deployment of a base model is not a run's.

Rule 3: a failing list is logged once and tried again at the next poll.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from arkor_rx.dashboard._actions import RunDeployed, RunUndeployed
from arkor_rx.deployments import AdapterTarget
from arkor_rx.errors import ArkorError

if TYPE_CHECKING:
    from arkor_rx.client import ArkorClient
    from arkor_rx.dashboard.web._sink import WebDashboard

__all__ = ["DeploymentWatch"]

logger = logging.getLogger("arkor_rx.dashboard.web")


class DeploymentWatch:
    """Show ``client``'s deployments on the runs of ``view`` (Rules 1 to 3)."""

    def __init__(self, client: ArkorClient, view: WebDashboard) -> None:
        self.client = client
        self.view = view
        self._shown: dict[str, RunDeployed] = {}
        self._failing = False

    async def poll(self) -> None:
        """Read the deployment list once and show what changed since the last read."""
        try:
            listed = await self.client.list_deployments()
        except ArkorError as exc:
            if not self._failing:
                logger.warning("listing the deployments failed: %s", exc)
            self._failing = True
            return
        self._failing = False
        now = {
            d.slug: RunDeployed.from_deployment(d)
            for d in listed
            if isinstance(d.target, AdapterTarget) and d.target.adapter.job_id in self.view.feed
        }
        for slug, old in self._shown.items():
            new = now.get(slug)
            if new is None or new.job_id != old.job_id:
                self.view.dispatch(RunUndeployed(old.job_id, slug))
        for slug, action in now.items():
            if self._shown.get(slug) != action:
                self.view.dispatch(action)
        self._shown = now
