"""Job models: tolerant of the server, strict with the user (PROTOCOL.md "Job config")."""

from __future__ import annotations

import pytest

import arkor_rx as ax
from arkor_rx.jobs import JobConfig, parse_dataset

HF = {"type": "huggingface", "name": "arkorlab/triage-demo"}


def test_only_the_fields_set_are_sent_in_camel_case() -> None:
    cfg = JobConfig.build(
        model="unsloth/gemma-4-E4B-it",
        dataset_source=HF,
        max_steps=200,
        learning_rate=2e-4,
        lora_r=16,
        lora_alpha=16,
        load_in_4bit=True,
    )
    assert cfg.to_wire() == {
        "model": "unsloth/gemma-4-E4B-it",
        "datasetSource": HF,
        "maxSteps": 200,
        "learningRate": 2e-4,
        "loraR": 16,
        "loraAlpha": 16,
        "loadIn4bit": True,
    }


def test_an_int_is_a_fine_float() -> None:
    cfg = JobConfig.build(model="m", dataset_source=HF, lora_alpha=16, num_train_epochs=2)
    assert cfg.to_wire()["loraAlpha"] == 16


def test_camel_case_input_is_accepted() -> None:
    cfg = JobConfig.build(model="m", datasetSource=HF, maxSteps=3, lrSchedulerType="cosine")
    assert cfg.max_steps == 3
    assert cfg.to_wire()["lrSchedulerType"] == "cosine"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"max_steps": "abc"}, "max_steps"),
        ({"max_steps": "10"}, "max_steps"),
        ({"max_steps": True}, "max_steps"),
        ({"learning_rate": "0.1"}, "learning_rate"),
        ({"dry_run": "yes"}, "dry_run"),
        ({"max_steps": 0}, "max_steps"),
        ({"batch_size": -2}, "batch_size"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"max_stpes": 10}, "max_stpes"),
        ({"model": ""}, "model"),
    ],
)
def test_garbage_values_name_the_field(values: dict[str, object], field: str) -> None:
    base: dict[str, object] = {"model": "m", "dataset_source": HF}
    with pytest.raises(ax.ConfigError, match=field) as info:
        JobConfig.build(**{**base, **values})
    assert isinstance(info.value, ValueError)
    assert info.value.__cause__ is None


def test_unknown_dataset_type_is_a_config_error() -> None:
    with pytest.raises(ax.ConfigError, match="dataset"):
        parse_dataset({"type": "s3", "bucket": "b"})


def test_missing_dataset_name() -> None:
    with pytest.raises(ax.ConfigError, match="name"):
        parse_dataset({"type": "huggingface"})


def test_blob_token_is_masked_everywhere_but_the_wire() -> None:
    secret = "blob-secret-123"
    ds = parse_dataset({"type": "blob", "url": "file:///tmp/x.jsonl", "token": secret})
    assert secret not in repr(ds)
    assert secret not in str(ds)
    cfg = JobConfig.build(model="m", dataset_source=ds)
    assert secret not in repr(cfg)
    assert cfg.to_wire()["datasetSource"]["token"] == secret


def test_bad_token_value_is_not_echoed() -> None:
    with pytest.raises(ax.ConfigError) as info:
        parse_dataset({"type": "blob", "url": "file:///x", "token": ["hunter2"]})
    assert "hunter2" not in str(info.value)


def test_training_job_tolerates_unknown_fields_and_statuses() -> None:
    job = ax.TrainingJob.model_validate(
        {
            "id": "j1",
            "orgId": "o1",
            "projectId": "p1",
            "name": "support-bot-v1",
            "status": "preempted",
            "config": {"model": "m"},
            "error": None,
            "createdAt": "2026-01-01T00:00:00Z",
            "startedAt": None,
            "completedAt": None,
            "gpu": "h100",
        }
    )
    assert job.org_id == "o1"
    assert job.status == "preempted"
    assert not job.is_terminal


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        ("queued", False),
        ("running", False),
        ("completed", True),
        ("failed", True),
        ("cancelled", True),
    ],
)
def test_terminal_statuses(status: str, terminal: bool) -> None:
    assert ax.TrainingJob(id="j", status=status).is_terminal is terminal
