"""The cookbook's Trainer wiring runs for real, against the local backend.

docs/cookbook.md shows the early-stopping rules (a ```python block, run by
the operators' tests) and then hands them to a Trainer in a ```py block: that
one needs a backend and a top-level ``await``, so the page-level runner
(which ``exec``s each block alone, in a fresh namespace) cannot run it. This
test runs the two together, as a user would paste them, with
``ArkorClient.from_env()`` pointed at an in-process LocalServer.
"""

from __future__ import annotations

import ast
import asyncio
import re
from pathlib import Path

import pytest

import arkor_rx as ax
from arkor_rx.server import LocalServer, ServerConfig

SAFETY = 120.0
"""Seconds before a hung run fails the test (a safety net, not a synchronization)."""

COOKBOOK = Path(__file__).resolve().parents[2] / "docs" / "cookbook.md"
FENCE = re.compile(r"^```(python|py)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def cookbook_blocks() -> tuple[str, str]:
    """The block that builds ``stop`` and the block that gives it to a Trainer."""
    blocks = FENCE.findall(COOKBOOK.read_text(encoding="utf-8"))
    wiring = [i for i, (_, body) in enumerate(blocks) if "create_trainer(" in body]
    assert len(wiring) == 1, "the cookbook's Trainer wiring block is missing"
    # The rules it uses: the last ```python block before it that builds `stop`.
    rules = [
        body
        for lang, body in blocks[: wiring[0]]
        if lang == "python" and "stop = aop.early_stopping(" in body
    ]
    assert rules, "the cookbook's 'After' block (defining stop) is missing"
    return rules[-1], blocks[wiring[0]][1]


async def test_cookbook_trainer_wiring_runs_against_the_local_backend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules, wiring = cookbook_blocks()
    async with LocalServer(ServerConfig()) as server:
        monkeypatch.setenv("ARKOR_CLOUD_API_URL", server.url)
        monkeypatch.setenv("ARKOR_TOKEN", server.token)
        monkeypatch.setenv("ARKOR_ORG_SLUG", "local")
        monkeypatch.setenv("ARKOR_PROJECT_SLUG", "cookbook")
        namespace: dict[str, object] = {"__name__": "cookbook"}
        try:
            for index, source in enumerate((rules, wiring)):
                code = compile(
                    source, f"cookbook.md[{index}]", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
                )
                pending = eval(code, namespace)
                if pending is not None:  # a coroutine: the block has a top-level await
                    async with asyncio.timeout(SAFETY):
                        await pending
        finally:
            trainer = namespace.get("trainer")
            if isinstance(trainer, ax.Trainer):
                await trainer.aclose()  # it made its own client from the environment
    assert isinstance(namespace.get("trainer"), ax.Trainer)
    result = namespace["result"]
    assert isinstance(result, ax.TrainingResult)
    # The local model's run is seeded (42) and the rules judge values, not time:
    # on this healthy 200-step run none fires, so it completes, on any machine.
    assert result.status == "completed"
    assert not result.early_stopped
