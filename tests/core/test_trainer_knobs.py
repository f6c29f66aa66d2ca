"""``JobConfig`` is the one source of the job settings; ``create_trainer`` follows it."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from pydantic import ValidationError

from arkor_rx.client import ArkorClient
from arkor_rx.jobs import JobConfig
from arkor_rx.trainer import create_trainer

NOT_KNOBS = {
    "name",
    "model",
    "dataset",
    "lora",
    "callbacks",
    "client",
    "reconnect",
    "early_stopping",
    # added by the sinks work; listed here so that adding them needs no change
    "sinks",
    "samples",
}
"""``create_trainer`` parameters that are not ``JobConfig`` knobs."""


def _parameters() -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(create_trainer).parameters)


def test_every_knob_is_a_create_trainer_keyword_and_every_other_keyword_is_known() -> None:
    params = _parameters()
    knobs = set(JobConfig.knobs())
    assert knobs == set(JobConfig.model_fields) - {"model", "dataset_source"}
    missing = knobs - set(params)
    assert not missing, f"JobConfig knobs without a create_trainer parameter: {sorted(missing)}"
    unknown = set(params) - knobs - NOT_KNOBS
    assert not unknown, f"create_trainer parameters that are no JobConfig field: {sorted(unknown)}"


def test_every_knob_parameter_is_keyword_only_and_unset_by_default() -> None:
    for knob in JobConfig.knobs():
        param = _parameters()[knob]
        assert param.kind is inspect.Parameter.KEYWORD_ONLY, knob
        assert param.default is None, knob


def test_every_knob_has_a_description_on_the_model_and_in_help() -> None:
    doc = create_trainer.__doc__ or ""
    for knob in JobConfig.knobs():
        description = JobConfig.model_fields[knob].description
        assert description, f"JobConfig.{knob} has no attribute docstring"
        assert f"{knob}: {description}" in doc


def _valid_value(knob: str) -> Any:
    """A value the model accepts for ``knob`` (the first of a few candidates)."""
    for value in (3, True, "x"):
        try:
            JobConfig(model="m", dataset_source=DATASET, **{knob: value})
        except ValidationError:
            continue
        return value
    raise AssertionError(f"no sample value for {knob}")


DATASET = {"type": "huggingface", "name": "a/b"}


@pytest.mark.parametrize("knob", JobConfig.knobs())
def test_each_knob_reaches_the_body_under_its_wire_name(knob: str, client: ArkorClient) -> None:
    value = _valid_value(knob)
    trainer = create_trainer(name="t", model="m", dataset=DATASET, client=client, **{knob: value})
    alias = JobConfig.model_fields[knob].alias or knob
    assert trainer.config.to_wire()[alias] == value
    assert getattr(trainer.config, knob) == value
