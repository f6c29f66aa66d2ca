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
    return blocks_in(page.read_text(encoding="utf-8"))


def blocks_in(text: str) -> list[tuple[int, str, list[str]]]:
    """The ```python blocks of ``text``, as `blocks` gives them."""
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


SH_BLOCK = re.compile(r"^```sh\n(.*?)^```\n", re.DOTALL | re.MULTILINE)
SERVE = "arkor-rx serve"
"""The Quick start's server command; the test adds ``--port 0`` (8765 may be taken here)."""


def quick_start() -> tuple[str, str, str, list[str]]:
    """The README's Quick start: the server's terminal, the user's terminal, the script and
    what the script must print."""
    text = README.read_text(encoding="utf-8")
    start = text.index("## Quick start")
    section = text[start : text.index("\n## ", start)]
    server_steps, user_steps = SH_BLOCK.findall(section)
    (_, script, expected), *_ = blocks_in(section)
    return server_steps, user_steps, script, expected


def paste(steps: str, printed: list[str]) -> str:
    """``steps`` with the lines ``arkor-rx serve`` printed pasted where its comment says."""
    lines = steps.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("# paste here"))
    return "\n".join([*lines[: at + 1], *printed, *lines[at + 1 :]]) + "\n"


def test_the_quick_start_works_pasted_in_order_into_new_shells(tmp_path: Path) -> None:
    """The README's shell steps run as written in fresh bash shells: activate, serve in a
    first terminal, paste its export line in a second, run quickstart.py."""
    import shutil
    import signal
    import subprocess
    import sys

    venv_bin = Path(sys.executable).parent
    bash = shutil.which("bash")
    if bash is None or not (venv_bin / "arkor-rx").exists():
        pytest.skip("needs bash and the arkor-rx script next to this interpreter (a venv)")
    server_steps, user_steps, script, expected = quick_start()
    assert server_steps.count(SERVE) == 1
    assert ". .venv/bin/activate" in user_steps
    # The venv `make demo` built, as activating it would put it first on PATH.
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "activate").write_text(f'PATH="{venv_bin}:$PATH"; export PATH\n')
    (tmp_path / "quickstart.py").write_text(script)
    clean = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    shell = [bash, "--noprofile", "--norc", "-e", "-c"]
    serving = server_steps.replace(SERVE, f"exec {SERVE} --port 0")
    server = subprocess.Popen(
        [*shell, serving], cwd=tmp_path, env=clean, text=True, stdout=subprocess.PIPE
    )
    assert server.stdout is not None
    try:
        printed: list[str] = []
        while not printed or printed[-1].rstrip().endswith("\\"):
            line = server.stdout.readline()  # bounded by pytest's timeout
            assert line, f"arkor-rx serve exited before printing its export line: {server.wait()}"
            if printed or line.lstrip().startswith("export "):
                printed.append(line.strip())
        user = subprocess.run(
            [*shell, paste(user_steps, printed)],
            cwd=tmp_path,
            env=clean,
            capture_output=True,
            text=True,
            timeout=100,
        )
    finally:
        server.send_signal(signal.SIGINT)
        stopped = server.communicate(timeout=30)[0]
    assert user.returncode == 0, user.stderr
    for fragment in expected:
        assert fragment in user.stdout, f"quickstart.py did not print {fragment!r}: {user.stdout}"
    assert "stopped" in stopped
    assert server.returncode == 0
