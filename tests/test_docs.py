"""The examples in README.md and docs/ run, against a real local backend.

Every fenced ```python block of a page runs, in order, in one namespace per
page, with top-level ``await`` allowed. ```py blocks are illustrations and do
not run. The environment points ``ArkorClient.from_env()`` at an in-process
:class:`~arkor_rx.server.LocalServer`, so the examples run exactly as a user
would run them against the cloud.

docs/operators.md and docs/cookbook.md are run by the operators' own tests,
docs/metric-pipelines.md by tests/sinks/test_docs_sinks.py (in a scratch folder).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import CodeType

import pytest

from arkor_rx.server import LocalServer, ServerConfig

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN_ELSEWHERE = {"operators.md", "cookbook.md", "metric-pipelines.md"}  # sinks: its own test
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def blocks(page: Path) -> list[tuple[int, str]]:
    """The ```python blocks of a page, with the line each starts at."""
    text = page.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in BLOCK.finditer(text)]


def compile_block(page: Path, line: int, source: str) -> CodeType:
    # Pad so that a traceback points at the right line of the page.
    padded = "\n" * (line - 1) + source
    code: CodeType = compile(padded, str(page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    return code


RUNNABLE = [p for p in PAGES if p.name not in RUN_ELSEWHERE and blocks(p)]


def test_there_are_examples_to_run() -> None:
    names = {p.name for p in RUNNABLE}
    assert {"README.md", "getting-started.md", "local-backend.md"} <= names


@pytest.mark.parametrize("page", RUNNABLE, ids=lambda p: p.name)
async def test_page_examples_run(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with LocalServer(ServerConfig(ping_interval=0.5)) as server:
        monkeypatch.setenv("ARKOR_CLOUD_API_URL", server.url)
        monkeypatch.setenv("ARKOR_TOKEN", server.token)
        monkeypatch.setenv("ARKOR_ORG_SLUG", "local")
        monkeypatch.setenv("ARKOR_PROJECT_SLUG", "demo")
        namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
        for line, source in blocks(page):
            result = eval(compile_block(page, line, source), namespace)
            if result is not None:  # a coroutine when the block has a top-level await
                await result
