"""Bounds of the local backend: limits, dataset roots and reads, the store's memory."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import pytest

from arkor_rx.errors import ConfigError, DatasetError
from arkor_rx.jobs import BlobDataset, HuggingFaceDataset, JobConfig
from arkor_rx.server import LocalServer, ServerConfig
from arkor_rx.server.datasets import load_dataset, read_capped
from arkor_rx.server.limits import ServerLimits
from arkor_rx.server.plan import TrainingPlan
from arkor_rx.server.store import JobRecord, JobStore
from tests.server.server_helpers import DEMO, TOKEN, config, post_error, running

GOOD = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}


def _build(**knobs: object) -> JobConfig:
    return JobConfig.build(model="arkor/tiny", datasetSource=DEMO, **knobs)


def test_limits_name_the_wire_field_and_are_configurable() -> None:
    limits = ServerLimits(lora_r=8, max_steps=50)
    limits.check(_build(loraR=8, maxSteps=50))
    with pytest.raises(ConfigError, match=r"loraR: must be at most 8 \(got 9\)"):
        limits.check(_build(loraR=9))
    with pytest.raises(ConfigError, match="seed: must be at least 0"):
        limits.check(_build(seed=-1))
    plan = TrainingPlan.from_config(_build(numTrainEpochs=20.0))
    with pytest.raises(ConfigError, match=r"numTrainEpochs.*at most 50"):
        limits.check_run(plan, train_size=100)
    assert ("loraR", 8) in limits.rows()
    assert ("max_log_events", 20_000) in limits.rows()
    with pytest.raises(ConfigError, match="lora_r"):
        ServerLimits(lora_r=0)


async def test_a_server_uses_its_limits() -> None:
    cfg = ServerConfig(token=TOKEN, limits=ServerLimits(lora_r=4))
    async with running(cfg) as (_, session):
        status, message = await post_error(session, "/v1/jobs", {"config": config(loraR=5)})
    assert status == 400
    assert "loraR: must be at most 4" in message


def test_blobs_need_roots_and_stay_under_them(tmp_path: Path) -> None:
    inside, outside = tmp_path / "in", tmp_path / "out"
    inside.mkdir()
    outside.mkdir()
    (inside / "d.jsonl").write_text(json.dumps(GOOD) + "\n")
    (outside / "d.jsonl").write_text(json.dumps(GOOD) + "\n")
    assert len(load_dataset(BlobDataset(url=(inside / "d.jsonl").as_uri()), roots=[inside])) == 1
    for url, roots in [
        ((inside / "d.jsonl").as_uri(), []),  # no roots: no blob at all
        ((outside / "d.jsonl").as_uri(), [inside]),
        ((inside / ".." / "out" / "d.jsonl").as_uri(), [inside]),
    ]:
        with pytest.raises(DatasetError, match="dataset roots"):
            load_dataset(BlobDataset(url=url), roots=roots)
    # Built-in data is no file of the user's: it needs no root.
    assert len(load_dataset(HuggingFaceDataset(name="arkorlab/triage-demo"))) == 360


def test_devices_and_fifos_are_refused_unread(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a regular file"):
        load_dataset(BlobDataset(url="file:///dev/zero"), roots=[Path("/dev")])
    fifo = tmp_path / "f.jsonl"
    os.mkfifo(fifo)  # no writer: a blocking open would hang here
    with pytest.raises(DatasetError, match="not a regular file"):
        read_capped(fifo, 100, name="f")


def test_the_size_cap_holds_while_reading(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"x" * 101)
    assert read_capped(path, 101, name="d") == b"x" * 101
    with pytest.raises(DatasetError, match="limit of 100 bytes"):
        read_capped(path, 100, name="d")


async def test_default_roots_are_the_start_folder_and_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start, data = tmp_path / "start", tmp_path / "data"
    start.mkdir()
    monkeypatch.chdir(start)
    async with LocalServer(ServerConfig(token=TOKEN, data_dir=data)) as server:
        from arkor_rx.server import STATE_KEY

        roots = server.app[STATE_KEY].dataset_roots
    assert roots == (start.resolve(), data.resolve())
    assert LocalServer(dataset_roots=["a"]).config.dataset_roots == (Path("a"),)


def test_a_persistent_store_pages_events_from_disk(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "s.sqlite3")
    store.create(JobRecord(id="j", name="x", config={}))
    payload = json.dumps({"type": "training.log", "pad": "x" * 2000})
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(2000):  # 4 MB of events
        store.append("j", "training.log", payload)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown < 1_000_000, grown  # the log lives in SQLite, not in this process's heap
    page = store.events_after("j", 10, limit=3)
    assert [e.id for e in page] == [11, 12, 13]
    assert store.event_count("j") == 2000
    store.close()
    again = JobStore(tmp_path / "s.sqlite3")
    assert again.event_count("j") == 2000
    assert again.append("j", "training.log", "{}") == 2001
    assert [e.id for e in again.events_after("j", 1999)] == [2000, 2001]
    again.close()


def test_an_in_memory_store_pages_too() -> None:
    store = JobStore()
    store.create(JobRecord(id="j", name="x", config={}))
    for _ in range(5):
        store.append("j", "training.log", "{}")
    assert [e.id for e in store.events_after("j", 1, limit=2)] == [2, 3]
    assert [e.id for e in store.events_after("j", 3)] == [4, 5]
    assert store.event_count("j") == 5
    assert store.event_count("nope") == 0


async def test_blas_is_single_threaded_while_a_server_runs() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    threadpool_info = threadpoolctl.threadpool_info

    def blas_threads() -> set[int]:
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    before = blas_threads()
    async with LocalServer(ServerConfig(token=TOKEN)):
        assert blas_threads() == {1}
    assert blas_threads() == before
    with pytest.raises(ConfigError, match="blas_threads"):
        ServerConfig(blas_threads=0)
