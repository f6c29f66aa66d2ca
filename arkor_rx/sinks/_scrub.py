"""What reaches a sink holds no secret: the one place that redacts runs, items and outcomes.

Rule 1: every secret this process was told to hide
([`hide`][arkor_rx._redaction.hide]: the client's bearer token, an issued
deployment key, a tracking URI's password) is replaced by ``***`` in what the
[`SinkHub`][arkor_rx.sinks.SinkHub] hands to its sinks: the run's job (its
config and error), every event (the frame's text that a recording writes as
well as the fields), checkpoint samples' answers and the run's outcome. A
server that echoes the token back (in ``training.started`` metadata, a
``training.failed`` error, a job's config) cannot get it written anywhere.

Rule 2: the cost is one regular-expression search of the frame's text per
event; only an event that holds a secret is rebuilt.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from arkor_rx._redaction import Redactor, hidden
from arkor_rx.events import TrainingEvent, parse_event, wire_data
from arkor_rx.jobs import TrainingJob
from arkor_rx.samples import SamplesAnswered
from arkor_rx.sinks._base import Outcome, SinkItem
from arkor_rx.sse import ServerSentEvent

__all__ = ["scrub_item", "scrub_job", "scrub_outcome", "scrub_text"]

_M = TypeVar("_M", TrainingJob, TrainingEvent)


def scrub_text(text: str) -> str:
    """``text`` with every hidden secret masked (a sink's error message, a log line)."""
    redactor = hidden()
    return text if redactor is None else redactor.text(text)


def _model(model: _M, redactor: Redactor) -> _M:
    dumped = model.model_dump(by_alias=True)
    clean = redactor.value(dumped)
    if clean == dumped:
        return model
    if isinstance(model, TrainingJob):
        return TrainingJob.model_validate(clean)
    return type(model).model_validate({**clean, "eventId": model.event_id})  # not dumped


def scrub_job(job: TrainingJob) -> TrainingJob:
    """``job`` with every hidden secret masked (the same object when it holds none)."""
    redactor = hidden()
    return job if redactor is None else _model(job, redactor)


def scrub_item(item: SinkItem) -> SinkItem:
    """``item`` with every hidden secret masked (the same object when it holds none)."""
    redactor = hidden()
    if redactor is None:
        return item
    if isinstance(item, SamplesAnswered):
        return _samples(item, redactor)
    raw = wire_data(item)
    if raw is None:
        return _model(item, redactor)
    if not redactor.found(raw):
        return item
    frame = ServerSentEvent(event=item.type, data=redactor.text(raw), id=item.event_id)
    clean = parse_event(frame)
    return item if clean is None else clean


def _samples(item: SamplesAnswered, redactor: Redactor) -> SamplesAnswered:
    samples = tuple(
        dataclasses.replace(
            sample,
            **{
                name: redactor.text(value)
                for name in ("prompt", "answer", "error")
                if isinstance(value := getattr(sample, name, None), str)
            },
        )
        for sample in item.samples
    )
    return item if samples == item.samples else dataclasses.replace(item, samples=samples)


def scrub_outcome(outcome: Outcome) -> Outcome:
    """``outcome`` with every hidden secret masked in its error and its job."""
    redactor = hidden()
    if redactor is None:
        return outcome
    changes: dict[str, Any] = {}
    if outcome.error is not None and redactor.found(outcome.error):
        changes["error"] = redactor.text(outcome.error)
    if outcome.job is not None and (job := _model(outcome.job, redactor)) is not outcome.job:
        changes["job"] = job
    return dataclasses.replace(outcome, **changes) if changes else outcome
