"""Fixtures of the deployment tests: a real LocalServer and a real (short) training job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import arkor_rx as ax
from arkor_rx.server import LocalServer, ServerConfig

MODEL = "arkor/triage-tiny"
DEMO = {"type": "huggingface", "name": "arkorlab/triage-demo"}
QUESTION = "I was charged twice for my subscription this month"
MESSAGES = [{"role": "user", "content": QUESTION}]


@dataclass
class Trained:
    """A running server, a client of it, and a completed job with checkpoints at 10 and 20."""

    server: LocalServer
    client: ax.ArkorClient
    job_id: str

    async def expected(self, step: int | None = None) -> str:
        """What ``POST /v1/inference/chat`` answers for the final adapter or a checkpoint."""
        return await self.expected_for(self.job_id, step)

    async def expected_for(self, job_id: str, step: int | None = None) -> str:
        """As ``expected``, for any job."""
        adapter = ax.final_adapter(job_id) if step is None else ax.checkpoint_adapter(job_id, step)
        response = await self.client.infer(MESSAGES, adapter=adapter)
        return await response.text()


async def train(client: ax.ArkorClient) -> str:
    """Train a 20-step job with checkpoints at 10 and 20; return its id once it completed."""
    trainer = ax.create_trainer(
        name="deploy-test", model=MODEL, dataset=DEMO, max_steps=20, save_steps=10, client=client
    )
    await trainer.start()
    result = await trainer.wait()
    assert result.job.status == "completed", result.job.error
    return result.job.id


@pytest.fixture
async def trained(tmp_path: Path) -> AsyncIterator[Trained]:
    """A LocalServer with a data dir and one trained job."""
    async with LocalServer(ServerConfig(token="server-token", data_dir=tmp_path / "data")) as srv:
        client = ax.ArkorClient(srv.url, srv.token, "local", "demo")
        async with client:
            yield Trained(srv, client, await train(client))
