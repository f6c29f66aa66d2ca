"""Helpers of the end-to-end tests: a real LocalServer, a real client, and a wire-level tally.

Nothing here is faked. The client's transport is the real aiohttp one
behind a ``RecordingTransport`` (``tests/fake_transport.py``) that only
records what it sends, so a test can count the cancel requests that actually
reached the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import arkor_rx as ax
from arkor_rx.server import FaultConfig, LocalServer, ServerConfig
from arkor_rx.transport import AiohttpTransport
from tests.fake_transport import RecordingTransport

MODEL = "arkor/triage-tiny"
DEMO = {"type": "huggingface", "name": "arkorlab/triage-demo"}
LABELS = (
    "account access",
    "billing",
    "feature request",
    "refund request",
    "shipping",
    "technical issue",
)
"""The categories of the built-in triage dataset: every answer of the local model is one."""

DIVERGING: dict[str, Any] = {"learning_rate": 0.1, "lr_scheduler_type": "constant"}
"""Far too high a rate: the local model's loss jumps from ~1.8 to >100 at step 2."""

LONG_RUN = 3000
"""``max_steps`` of runs that must be stopped. :func:`local_backend` holds every
job before this step until it is cancelled, so such a job is still running
when the cancel arrives on any machine (it takes effect within one step), and
an unstopped one would hang until the test's safety timeout instead of
passing as ``completed``."""


@dataclass(frozen=True, slots=True)
class Backend:
    """A running local backend and a client of it."""

    server: LocalServer
    client: ax.ArkorClient
    transport: RecordingTransport

    def trainer(self, **kwargs: Any) -> ax.Trainer:
        """A trainer of a small job on the built-in dataset (override any knob)."""
        kwargs.setdefault("name", "e2e")
        kwargs.setdefault("model", MODEL)
        kwargs.setdefault("dataset", DEMO)
        kwargs.setdefault("reconnect", ax.ReconnectPolicy.immediate(max_attempts=5))
        return ax.create_trainer(client=self.client, **kwargs)

    async def server_log(self, job_id: str) -> tuple[ax.TrainingJob, list[ax.TrainingEvent]]:
        """The job and every event of it, as the server has stored them."""
        return await self.client.get_job_with_events(job_id)


@asynccontextmanager
async def local_backend(config: ServerConfig | None = None) -> AsyncIterator[Backend]:
    """Start a LocalServer on loopback (port 0) with a client that counts its requests.

    The default config holds every job before step :data:`LONG_RUN`
    (``FaultConfig.hold_at_step``): a run that must be stopped can never
    complete before its cancel arrives, however loaded the machine is.
    """
    default = ServerConfig(faults=FaultConfig(hold_at_step=LONG_RUN))
    async with LocalServer(config or default) as server:
        transport = RecordingTransport(AiohttpTransport(request_timeout=10.0))
        client = ax.ArkorClient(
            server.url,
            token=server.token,
            org_slug="local",
            project_slug="e2e",
            transport=transport,
        )
        async with client:
            yield Backend(server, client, transport)


def tensorboard_smoothed(values: list[float], weight: float) -> list[float]:
    """TensorBoard's debiased EMA, written from its definition, for comparison."""
    out: list[float] = []
    last = 0.0
    for n, y in enumerate(values, start=1):
        last = last * weight + (1.0 - weight) * y
        out.append(last / (1.0 - weight**n))
    return out
