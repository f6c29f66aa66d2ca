"""docs/metric-pipelines.md runs, block after block, against a real local backend.

Like tests/test_docs.py (every ```python block, in order, one namespace, top-level
``await``), but in a child process whose current directory is a scratch
folder: the examples write TensorBoard folders, an MLflow store, W&B files and
recordings into the current directory, and W&B and MLflow start threads of
their own that are better kept out of the test process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "metric-pipelines.md"

RUNNER = """
import ast, asyncio, os, re, sys, warnings
from arkor_rx.server import LocalServer, ServerConfig

warnings.simplefilter("ignore", DeprecationWarning)  # mlflow's SQLAlchemy models
page = sys.argv[1]
text = open(page, encoding="utf-8").read()
blocks = [(text.count("\\n", 0, m.start()) + 2, m.group(1))
          for m in re.finditer(r"^```python\\n(.*?)^```", text, re.S | re.M)]
codes = [compile("\\n" * (line - 1) + src, page, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
         for line, src in blocks]

async def main():
    async with LocalServer(ServerConfig(ping_interval=0.5)) as server:
        os.environ.update(ARKOR_CLOUD_API_URL=server.url, ARKOR_TOKEN=server.token,
                          ARKOR_ORG_SLUG="local", ARKOR_PROJECT_SLUG="demo")
        namespace = {"__name__": "docs_metric_pipelines"}
        for code in codes:
            result = eval(code, namespace)
            if result is not None:
                await result
    print("blocks run:", len(codes))

asyncio.run(main())
"""


@pytest.mark.timeout(300)
def test_metric_pipelines_page_runs(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_SILENT": "true"}
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, str(PAGE)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("completed http://127.0.0.1:")
    assert lines[-1] == "blocks run: 4"
    assert "writing failed for 1 run(s); job j2: disk full for j2" in lines  # RunErrors
    assert (tmp_path / "mlruns.db").exists()
    assert len(list((tmp_path / "runs").iterdir())) == 1
    assert len(list((tmp_path / "runs-backfill").iterdir())) == 1
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 21  # header + 20 logs
    assert list((tmp_path / "wandb").glob("offline-run-*"))
