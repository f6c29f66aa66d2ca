"""Black-box acceptance tests of ``ax.parse_event`` against PROTOCOL.md and API.md."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

import arkor_rx as ax
from arkor_rx.sse import ServerSentEvent


def frame(payload: Any, *, event: str | None = None, id: str | None = "7") -> ServerSentEvent:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    etype = (
        event
        if event is not None
        else (payload.get("type", "message") if isinstance(payload, dict) else "message")
    )
    return ServerSentEvent(event=etype, data=data, id=id)


LOG = {
    "type": "training.log",
    "jobId": "j1",
    "timestamp": "2026-01-01T00:00:07Z",
    "step": 70,
    "loss": 1.23,
    "evalLoss": None,
    "learningRate": 0.0002,
    "epoch": 0.5,
    "samplesPerSecond": 41.2,
}


def test_ping_is_none() -> None:
    assert ax.parse_event(ServerSentEvent(event="ping", data="")) is None
    assert ax.parse_event(ServerSentEvent(event="ping", data="{}")) is None


def test_malformed_json_is_none() -> None:
    assert ax.parse_event(frame("not json", event="training.log")) is None
    assert ax.parse_event(frame('{"type": "training.log", ', event="training.log")) is None


def test_non_object_json_is_none() -> None:
    assert ax.parse_event(frame("[1, 2]", event="training.log")) is None
    assert ax.parse_event(frame("42", event="training.log")) is None


def test_training_log_snake_case_fields_and_event_id() -> None:
    ev = ax.parse_event(frame(LOG))
    assert isinstance(ev, ax.TrainingLog)
    assert ev.type == "training.log"
    assert ev.job_id == "j1"
    assert ev.timestamp == "2026-01-01T00:00:07Z"
    assert ev.event_id == "7"
    assert ev.step == 70
    assert ev.loss == 1.23
    assert ev.eval_loss is None
    assert ev.learning_rate == 0.0002
    assert ev.epoch == 0.5
    assert ev.samples_per_second == 41.2


def test_training_log_absent_metrics_are_none_and_extra_fields_tolerated() -> None:
    ev = ax.parse_event(
        frame({"type": "training.log", "jobId": "j1", "timestamp": "t", "step": 1, "gpu": "x"})
    )
    assert isinstance(ev, ax.TrainingLog)
    assert ev.loss is None
    assert ev.eval_loss is None
    assert ev.samples_per_second is None


def test_event_id_none_without_sse_id() -> None:
    ev = ax.parse_event(frame(LOG, id=None))
    assert ev is not None
    assert ev.event_id is None


def test_event_id_is_opaque_string() -> None:
    ev = ax.parse_event(frame(LOG, id="2026-01-01T00:00:07Z#a"))
    assert ev is not None
    assert ev.event_id == "2026-01-01T00:00:07Z#a"


def test_type_field_decides_even_without_event_line() -> None:
    ev = ax.parse_event(ServerSentEvent(event="message", data=json.dumps(LOG), id="1"))
    assert isinstance(ev, ax.TrainingLog)


def test_each_known_type() -> None:
    base = {"jobId": "j1", "timestamp": "t"}
    started = ax.parse_event(frame({"type": "training.started", **base, "metadata": {"a": 1}}))
    assert isinstance(started, ax.TrainingStarted)
    assert started.metadata == {"a": 1}
    ckpt = ax.parse_event(
        frame({"type": "checkpoint.saved", **base, "step": 5, "artifacts": [{"p": 1}]})
    )
    assert isinstance(ckpt, ax.CheckpointSaved)
    assert ckpt.step == 5
    assert ckpt.artifacts == [{"p": 1}]
    done = ax.parse_event(
        frame({"type": "training.completed", **base, "metrics": {"loss": 0.1}, "artifacts": []})
    )
    assert isinstance(done, ax.TrainingCompleted)
    assert done.metrics == {"loss": 0.1}
    failed = ax.parse_event(frame({"type": "training.failed", **base, "error": "oom", "step": 3}))
    assert isinstance(failed, ax.TrainingFailed)
    assert failed.error == "oom"
    assert failed.step == 3
    assert failed.job_id == "j1"


def test_optional_fields_may_be_absent() -> None:
    base = {"jobId": "j1", "timestamp": "t"}
    assert isinstance(
        ax.parse_event(frame({"type": "training.started", **base})), ax.TrainingStarted
    )
    assert isinstance(
        ax.parse_event(frame({"type": "checkpoint.saved", **base, "step": 1})), ax.CheckpointSaved
    )
    assert isinstance(
        ax.parse_event(frame({"type": "training.completed", **base})), ax.TrainingCompleted
    )
    assert isinstance(
        ax.parse_event(frame({"type": "training.failed", **base, "error": "e"})), ax.TrainingFailed
    )


def test_unknown_type_is_unknown_event_with_raw() -> None:
    payload = {"type": "training.paused", "jobId": "j1", "timestamp": "t", "why": [1]}
    ev = ax.parse_event(frame(payload, id="42"))
    assert isinstance(ev, ax.UnknownEvent)
    assert ev.type == "training.paused"
    assert ev.raw == payload
    assert ev.event_id == "42"
    assert ev.job_id == "j1"


def test_missing_required_field_does_not_crash() -> None:
    # "never a crash": a known type lacking its required field is skipped or unknown.
    ev = ax.parse_event(frame({"type": "training.log", "jobId": "j1", "timestamp": "t"}))
    assert ev is None or isinstance(ev, ax.UnknownEvent)


def test_events_are_frozen() -> None:
    ev = ax.parse_event(frame(LOG))
    assert ev is not None
    with pytest.raises(ValidationError):
        ev.job_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    "data",
    [
        '{"jobId": "j1"}',
        '{"type": 5, "jobId": "j1"}',
        '{"type": null}',
        '{"type": "training.log", "jobId": "j1", "timestamp": "t", "step": null}',
        '{"type": "training.log", "jobId": "j1", "timestamp": "t", "step": 1, "loss": "x"}',
        '{"type": "training.failed", "jobId": "j1", "timestamp": "t", "error": 3}',
        '{"type": "checkpoint.saved", "jobId": "j1", "timestamp": "t", "step": "a"}',
        "null",
        '"str"',
        "",
    ],
)
def test_odd_payloads_never_crash(data: str) -> None:
    ev = ax.parse_event(ServerSentEvent(event="message", data=data, id="1"))
    assert ev is None or isinstance(ev, ax.UnknownEvent)
