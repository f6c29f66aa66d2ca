"""The examples in README.md and docs/ run as written, against a real local backend.

Every fenced ```python block of a page runs, in order, in one namespace per
page. ```py blocks are illustrations and do not run. The environment points
``ArkorClient.from_env()`` at an in-process
[`LocalServer`][arkor_rx.server.LocalServer], so the examples run exactly as a
user would run them against the cloud.

Rule 1: the README's blocks are scripts a user pastes into a file: they are
compiled without top-level ``await`` (one there is a ``SyntaxError`` here, as
it would be for the user), and a block that calls ``asyncio.run`` runs in a
worker thread, with no loop of its own, as ``python quickstart.py`` would.
The docs' pages may use top-level ``await`` (they say so: a notebook, IPython,
``python -m asyncio``).

Rule 2: a block followed by ``<!-- expect: A | B -->`` must print each of
``A`` and ``B``: the example does what its text says, not only runs.

docs/operators.md and docs/cookbook.md are run by the operators' own tests,
docs/metric-pipelines.md by tests/sinks/test_docs_sinks.py (in a scratch folder).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import re
from pathlib import Path
from types import CodeType

import pytest

from arkor_rx.server import FaultConfig, LocalServer, ServerConfig

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
RUN_ELSEWHERE = {"operators.md", "cookbook.md", "metric-pipelines.md"}  # sinks: its own test
BLOCK = re.compile(
    r"^```python\n(.*?)^```\n(?:<!-- expect: (.*?) -->\n)?", re.DOTALL | re.MULTILINE
)


def blocks(page: Path) -> list[tuple[int, str, list[str]]]:
    """The ```python blocks of a page: the line each starts at, its source, what it must print."""
    text = page.read_text(encoding="utf-8")
    return [
        (
            text.count("\n", 0, m.start()) + 2,
            m.group(1),
            [part.strip() for part in (m.group(2) or "").split(" | ") if part.strip()],
        )
        for m in BLOCK.finditer(text)
    ]


def compile_block(page: Path, line: int, source: str, *, top_level_await: bool) -> CodeType:
    # Pad so that a traceback points at the right line of the page.
    padded = "\n" * (line - 1) + source
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if top_level_await else 0
    code: CodeType = compile(padded, str(page), "exec", flags=flags)
    return code


RUNNABLE = [p for p in PAGES if p.name not in RUN_ELSEWHERE and blocks(p)]


def test_there_are_examples_to_run() -> None:
    names = {p.name for p in RUNNABLE}
    assert {"README.md", "getting-started.md", "local-backend.md"} <= names


def test_readme_blocks_are_scripts_and_say_what_they_print() -> None:
    found = blocks(README)
    assert len(found) >= 2
    for line, source, _ in found:
        compile_block(README, line, source, top_level_await=False)  # no top-level await
    quick = found[0]
    assert "asyncio.run(main())" in quick[1]
    assert "save_steps=" in quick[1]  # on_checkpoint is called
    assert "eval_steps=" in quick[1]  # patience("eval_loss", ...) can fire
    assert quick[2], "the Quick Start says what it prints"


HOLD_AT = 100
"""The step before which the docs' server holds a job until it is cancelled."""


def _exec(code: CodeType, namespace: dict[str, object]) -> None:
    exec(code, namespace)


@pytest.mark.parametrize("page", RUNNABLE, ids=lambda p: p.name)
async def test_page_examples_run(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Jobs wait before step HOLD_AT until cancelled: an example that stops a run
    # (max_steps 200) sees its cancel land however loaded the machine; every
    # example that runs to the end has fewer steps than that.
    config = ServerConfig(ping_interval=0.5, faults=FaultConfig(hold_at_step=HOLD_AT))
    async with LocalServer(config) as server:
        monkeypatch.setenv("ARKOR_CLOUD_API_URL", server.url)
        monkeypatch.setenv("ARKOR_TOKEN", server.token)
        monkeypatch.setenv("ARKOR_ORG_SLUG", "local")
        monkeypatch.setenv("ARKOR_PROJECT_SLUG", "demo")
        namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
        for line, source, expected in blocks(page):
            code = compile_block(page, line, source, top_level_await=page != README)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                if "asyncio.run(" in source:  # a script: no running loop in its thread
                    await asyncio.to_thread(_exec, code, namespace)
                else:
                    result = eval(code, namespace)
                    if result is not None:  # a coroutine when the block has a top-level await
                        await result
            for fragment in expected:
                assert fragment in out.getvalue(), f"{page.name}:{line} did not print {fragment!r}"
