"""Typed events: PROTOCOL.md "The event stream" and API.md "Events"."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

import arkor_rx as ax
from arkor_rx.events import event_adapter
from arkor_rx.sse import ServerSentEvent


def frame(payload: object, *, event: str = "message", id: str | None = "1") -> ServerSentEvent:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return ServerSentEvent(event=event, data=data, id=id)


BASE = {"jobId": "j1", "timestamp": "2026-01-01T00:00:07Z"}


def test_training_log_camel_case_on_the_wire_snake_case_in_python() -> None:
    ev = ax.parse_event(
        frame(
            {
                "type": "training.log",
                **BASE,
                "step": 70,
                "loss": 1.23,
                "evalLoss": None,
                "learningRate": 0.0002,
                "epoch": 0.5,
                "samplesPerSecond": 41.2,
            },
            event="training.log",
            id="7",
        )
    )
    assert isinstance(ev, ax.TrainingLog)
    assert (ev.type, ev.job_id, ev.timestamp) == ("training.log", "j1", "2026-01-01T00:00:07Z")
    assert (ev.step, ev.loss, ev.eval_loss, ev.learning_rate) == (70, 1.23, None, 0.0002)
    assert (ev.epoch, ev.samples_per_second, ev.event_id) == (0.5, 41.2, "7")


def test_absent_metrics_are_none() -> None:
    ev = ax.parse_event(frame({"type": "training.log", **BASE, "step": 1}))
    assert isinstance(ev, ax.TrainingLog)
    assert ev.loss is ev.eval_loss is ev.learning_rate is ev.epoch is ev.samples_per_second is None


@pytest.mark.parametrize(
    ("payload", "cls"),
    [
        ({"type": "training.started", "metadata": {"model": "m"}}, ax.TrainingStarted),
        (
            {"type": "checkpoint.saved", "step": 10, "artifacts": [{"path": "x"}]},
            ax.CheckpointSaved,
        ),
        ({"type": "training.completed", "metrics": {"acc": 0.9}}, ax.TrainingCompleted),
        ({"type": "training.failed", "error": "boom", "step": 3}, ax.TrainingFailed),
    ],
)
def test_every_event_type(payload: dict[str, object], cls: type) -> None:
    ev = ax.parse_event(frame({**payload, **BASE}))
    assert type(ev) is cls
    for key, value in payload.items():
        assert getattr(ev, key) == value


def test_checkpoint_and_completed_default_artifacts() -> None:
    ck = ax.parse_event(frame({"type": "checkpoint.saved", **BASE, "step": 5}))
    done = ax.parse_event(frame({"type": "training.completed", **BASE}))
    assert isinstance(ck, ax.CheckpointSaved)
    assert ck.artifacts == []
    assert isinstance(done, ax.TrainingCompleted)
    assert done.artifacts == []
    assert done.metrics is None


def test_extra_fields_are_tolerated() -> None:
    ev = ax.parse_event(frame({"type": "training.log", **BASE, "step": 2, "gpuTemp": 71}))
    assert isinstance(ev, ax.TrainingLog)
    assert ev.step == 2


def test_unknown_type_is_passed_on_with_the_raw_json() -> None:
    payload = {"type": "training.paused", **BASE, "reason": "preempted"}
    ev = ax.parse_event(frame(payload, id="9"))
    assert isinstance(ev, ax.UnknownEvent)
    assert ev.type == "training.paused"
    assert ev.job_id == "j1"
    assert ev.raw == payload
    assert ev.event_id == "9"


def test_object_without_type_is_unknown_not_a_crash() -> None:
    ev = ax.parse_event(frame({"hello": "world"}))
    assert isinstance(ev, ax.UnknownEvent)
    assert ev.raw == {"hello": "world"}


@pytest.mark.parametrize(
    "sse",
    [
        ServerSentEvent(event="ping", data=""),
        ServerSentEvent(event="ping", data='{"type":"training.log","step":1}'),
        ServerSentEvent(event="end", data=""),
        ServerSentEvent(event="message", data=""),
        frame("not json"),
        frame("{truncated"),
        frame("[1, 2, 3]"),
        frame('"a string"'),
        frame("42"),
        frame("null"),
        frame({"type": "training.log", **BASE}),  # no step
        frame({"type": "training.log", **BASE, "step": "seventy"}),
        frame({"type": "training.failed", **BASE, "error": {"not": "a string"}}),
    ],
)
def test_keepalives_and_malformed_frames_give_none(sse: ServerSentEvent) -> None:
    assert ax.parse_event(sse) is None


def test_nan_and_infinity_on_the_wire() -> None:
    ev = ax.parse_event(
        frame('{"type":"training.log","jobId":"j","step":3,"loss":NaN,"evalLoss":Infinity}')
    )
    assert isinstance(ev, ax.TrainingLog)
    assert ev.loss is not None
    assert math.isnan(ev.loss)
    assert ev.eval_loss == math.inf
    assert not ev.is_finite


def test_event_without_sse_id_has_none() -> None:
    ev = ax.parse_event(frame({"type": "training.started", **BASE}, id=None))
    assert ev is not None
    assert ev.event_id is None


def test_events_are_frozen() -> None:
    ev = ax.parse_event(frame({"type": "training.log", **BASE, "step": 1}))
    assert ev is not None
    with pytest.raises(ValidationError):
        ev.step = 2  # type: ignore[union-attr,misc]


def test_to_json_is_camel_case_without_event_id() -> None:
    ev = ax.TrainingLog(job_id="j", step=4, eval_loss=0.5, event_id="4")
    wire = json.loads(ev.to_json())
    assert wire["evalLoss"] == 0.5
    assert wire["jobId"] == "j"
    assert "eventId" not in wire
    assert "event_id" not in wire


def test_metric_lookup_accepts_both_spellings() -> None:
    ev = ax.TrainingLog(job_id="j", step=4, eval_loss=0.5)
    assert ev.metric("eval_loss") == ev.metric("evalLoss") == 0.5
    with pytest.raises(KeyError, match="unknown metric"):
        ev.metric("accuracy")


def test_module_level_adapter_validates_json_bytes() -> None:
    ev = event_adapter.validate_json(b'{"type":"checkpoint.saved","jobId":"j","step":8}')
    assert isinstance(ev, ax.CheckpointSaved)


finite = st.floats(allow_nan=False, allow_infinity=False, width=64) | st.none()


@given(
    step=st.integers(min_value=0, max_value=10**9),
    loss=finite,
    eval_loss=finite,
    lr=finite,
    event_id=st.text(min_size=1).filter(lambda s: "\x00" not in s),
)
def test_log_round_trips_through_the_wire(
    step: int, loss: float | None, eval_loss: float | None, lr: float | None, event_id: str
) -> None:
    ev = ax.TrainingLog(job_id="j", step=step, loss=loss, eval_loss=eval_loss, learning_rate=lr)
    back = ax.parse_event(ServerSentEvent(event="training.log", data=ev.to_json(), id=event_id))
    assert back == ev.model_copy(update={"event_id": event_id})


def test_the_json_type_wins_over_the_sse_event_name() -> None:
    ev = ax.parse_event(
        frame({"type": "checkpoint.saved", **BASE, "step": 3}, event="training.log", id="3")
    )
    assert isinstance(ev, ax.CheckpointSaved)
    assert ev.event_id == "3"


def test_a_named_frame_without_a_json_type_is_unknown() -> None:
    ev = ax.parse_event(frame({**BASE, "step": 3}, event="training.log"))
    assert isinstance(ev, ax.UnknownEvent)
    assert ev.raw == {**BASE, "step": 3}


def test_a_named_frame_that_does_not_fit_its_class_is_skipped() -> None:
    ev = ax.parse_event(frame({"type": "training.log", **BASE, "step": None}, event="training.log"))
    assert ev is None


def test_event_classes_are_the_classes_of_the_training_event_union() -> None:
    import typing

    from arkor_rx.events import EVENT_CLASSES, TrainingEvent

    union = typing.get_args(typing.get_args(TrainingEvent)[0])
    assert tuple(typing.get_args(member)[0] for member in union) == EVENT_CLASSES
