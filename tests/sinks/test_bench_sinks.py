"""The sink rows of ``make bench`` (bench/sinks.py) run at a tiny size and do all their work.

No timing: the figures live in ``make bench`` only.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the bench package lives at the repo root, beside arkor_rx
    sys.path.insert(0, str(ROOT))

from bench import sinks as bench_sinks  # noqa: E402
from bench.server import make_app  # noqa: E402


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    server = TestServer(make_app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def test_the_backfill_rows_write_every_event_both_ways(tmp_path: Path) -> None:
    recording = tmp_path / "in.jsonl"
    count = bench_sinks.write_recording(recording, 2_000)
    assert count == len(recording.read_text().splitlines()) >= 2_000
    assert await bench_sinks.backfill_sinks(recording, tmp_path) == count
    ours = (tmp_path / "out" / "copy.jsonl").read_text().splitlines()
    assert bench_sinks.backfill_plain(recording, tmp_path) == count
    plain = (tmp_path / "out" / "copy.jsonl").read_text().splitlines()
    assert len(ours) == len(plain) == count
    assert [json.loads(line)["data"] for line in ours] == [
        json.loads(line)["data"] for line in plain
    ]
    logs = sum('"event": "training.log"' in line for line in ours)
    with (tmp_path / "out" / "metrics.csv").open(newline="") as handle:
        assert len(list(csv.reader(handle))) == logs  # a row per log event (no header)


async def test_the_live_row_follows_paced_runs_and_times_every_write(
    base_url: str, tmp_path: Path
) -> None:
    bare = await bench_sinks.live(base_url, 3, 5, tmp_path, sinks_on=False)
    timed = await bench_sinks.live(base_url, 3, 5, tmp_path, sinks_on=True)
    assert bare["events"] == timed["events"] == 3 * 3  # 5 frames: 3 logs, completed, end
    assert timed["written"] == 3 * timed["events"]  # every log event, in each of three sinks
    assert set(timed["p99_ms_by_sink"]) == {"TensorBoard", "Prometheus", "JSONL"}
