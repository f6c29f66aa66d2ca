"""The Prometheus sink, scraped over loopback and parsed with prometheus_client's own parser."""

from __future__ import annotations

import math
from typing import Any

import aiohttp
import pytest
import reactivex
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from arkor_rx import operators as aop
from arkor_rx import sinks
from arkor_rx.errors import ConfigError
from arkor_rx.events import CheckpointSaved, TrainingFailed, TrainingLog, TrainingStarted
from arkor_rx.runs import Run, RunEvent
from tests.sinks.sink_helpers import run_events


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        text = await response.text()
    return parse(text)


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def lab(job_id: str, name: str, **more: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"job_id": job_id, "name": name, **more}.items()))


async def test_scraped_over_loopback_with_labels_per_run_until_aclose() -> None:
    sink = sinks.Prometheus(port=0)
    try:
        assert sink.url is not None
        assert sink.url.startswith("http://127.0.0.1:")
        ra, rb = Run(0, "ja", name="sweep-0"), Run(1, "jb", name="sweep-1")
        a = [
            TrainingStarted(job_id="ja"),
            TrainingLog(job_id="ja", step=10, loss=2.0, learning_rate=1e-4),
            TrainingLog(job_id="ja", step=20, loss=1.5, eval_loss=1.6, epoch=0.5),
            CheckpointSaved(job_id="ja", step=20),
        ]
        b = [
            TrainingStarted(job_id="jb"),
            TrainingLog(job_id="jb", step=5, loss=math.nan),
            TrainingFailed(job_id="jb", error="diverged"),
        ]
        merged: list[Any] = [RunEvent(ra, e) for e in a] + [RunEvent(rb, e) for e in b]  # type: ignore[arg-type]
        await reactivex.from_iterable(merged).pipe(aop.to_sink(sink))
        got = await scrape(sink.url)
        la, lb = lab("ja", "sweep-0"), lab("jb", "sweep-1")
        assert got[("arkor_training_loss", la)] == 1.5
        assert got[("arkor_training_eval_loss", la)] == 1.6
        assert got[("arkor_training_learning_rate", la)] == 1e-4
        assert got[("arkor_training_epoch", la)] == 0.5
        assert got[("arkor_training_step", la)] == 20
        assert math.isnan(got[("arkor_training_loss", lb)])
        assert got[("arkor_events_total", lab("ja", "sweep-0", type="training.log"))] == 2
        assert got[("arkor_events_total", lab("ja", "sweep-0", type="checkpoint.saved"))] == 1
        # ja's stream ended without a terminal event: cancelled; jb failed.
        assert got[("arkor_job_status", lab("ja", "sweep-0", arkor_job_status="cancelled"))] == 1
        assert got[("arkor_job_status", lab("ja", "sweep-0", arkor_job_status="running"))] == 0
        assert got[("arkor_job_status", lab("jb", "sweep-1", arkor_job_status="failed"))] == 1
        assert got[("arkor_stream_reconnects_total", la)] == 0
    finally:
        await sink.aclose()
    with pytest.raises(aiohttp.ClientConnectionError):
        await scrape(sink.url)
    await sink.aclose()  # idempotent


async def test_into_your_own_registry_without_an_endpoint() -> None:
    registry = CollectorRegistry()
    sink = sinks.Prometheus(registry=registry)
    assert sink.url is None
    await reactivex.from_iterable(run_events("j1", 3)).pipe(aop.to_sink(sink, name="bot"))
    got = parse(generate_latest(registry).decode())
    assert got[("arkor_training_step", lab("j1", "bot"))] == 3
    assert got[("arkor_job_status", lab("j1", "bot", arkor_job_status="completed"))] == 1


def test_needs_a_port_or_a_registry() -> None:
    with pytest.raises(ConfigError, match=r"needs port= .* or registry="):
        sinks.Prometheus()
