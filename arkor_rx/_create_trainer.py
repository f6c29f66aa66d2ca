"""``create_trainer``: check every argument, then build a [`Trainer`][arkor_rx.trainer.Trainer].

Re-exported by [`arkor_rx.trainer`][arkor_rx.trainer] (and ``arkor_rx``), where it is documented.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from arkor_rx._trainer_options import trainer_options
from arkor_rx.callbacks import TrainerCallbacks
from arkor_rx.client import ArkorClient
from arkor_rx.errors import ConfigError
from arkor_rx.jobs import BlobDataset, HuggingFaceDataset, JobConfig
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.samples import CheckpointSamples
from arkor_rx.sinks._base import Sink
from arkor_rx.stopping import StopRule

if TYPE_CHECKING:
    from arkor_rx.trainer import Trainer

__all__ = ["create_trainer"]


def create_trainer(
    *,
    name: str,
    model: str,
    dataset: Mapping[str, Any] | HuggingFaceDataset | BlobDataset,
    max_steps: int | None = None,
    num_train_epochs: float | None = None,
    learning_rate: float | None = None,
    batch_size: int | None = None,
    optim: str | None = None,
    lr_scheduler_type: str | None = None,
    weight_decay: float | None = None,
    warmup_steps: int | None = None,
    logging_steps: int | None = None,
    save_steps: int | None = None,
    eval_steps: int | None = None,
    lora: Mapping[str, Any] | None = None,
    lora_r: int | None = None,
    lora_alpha: float | None = None,
    max_length: int | None = None,
    load_in_4bit: bool | None = None,
    train_on_responses_only: bool | None = None,
    dataset_format: str | None = None,
    dataset_split: str | None = None,
    dry_run: bool | None = None,
    seed: int | None = None,
    callbacks: TrainerCallbacks | Mapping[str, Any] | None = None,
    client: ArkorClient | None = None,
    reconnect: ReconnectPolicy | None = None,
    early_stopping: StopRule | Sequence[StopRule] | None = None,
    sinks: Sequence[Sink] | None = None,
    samples: CheckpointSamples | None = None,
) -> Trainer:
    """Build a [`Trainer`][arkor_rx.trainer.Trainer] for one fine-tuning job. Nothing is sent until
    ``start()``.

    The training knobs (``max_steps``, ``learning_rate``, ``lora_r``, ``seed``
    ...) are the optional fields of [`JobConfig`][arkor_rx.jobs.JobConfig],
    taken here as keywords of the same name and described there (and under
    "Knobs" below, in ``help(create_trainer)``). Only the knobs you set are
    sent, in camelCase (``max_steps`` goes out as ``maxSteps``); the server's
    defaults apply to the rest.

    Examples:
        >>> trainer = create_trainer(  # doctest: +SKIP
        ...     name="support-bot-v1", model="unsloth/gemma-4-E4B-it",
        ...     dataset={"type": "huggingface", "name": "arkorlab/triage-demo"},
        ...     max_steps=200, learning_rate=2e-4, lora={"r": 16, "alpha": 16},
        ...     callbacks=TrainerCallbacks(on_log=print))

    Args:
        name: the job's display name.
        model: the base model, e.g. ``unsloth/gemma-4-E4B-it``.
        dataset: ``{"type": "huggingface", "name", "split"?, "subset"?}`` or
            ``{"type": "blob", "url", "token"?}`` (or the model classes).
        lora: ``{"r": int, "alpha": number}``, sent as ``loraR``/``loraAlpha``
            (or pass ``lora_r``/``lora_alpha``).
        callbacks: a [`TrainerCallbacks`][arkor_rx.callbacks.TrainerCallbacks] or a dict of them.
        client: the client to use; by default ``ArkorClient.from_env()``, which
            the trainer then closes in ``aclose()``.
        reconnect: the stream's [`ReconnectPolicy`][arkor_rx.retry.ReconnectPolicy].
        early_stopping: one stop rule or several (``arkor_rx.operators``); the
            first decision cancels the job.
        sinks: where the run's events go besides the callbacks
            ([`arkor_rx.sinks`][arkor_rx.sinks]: TensorBoard, MLflow, a recording
            ...), each from its own buffer and task; ``wait()`` returns once
            every sink has flushed. One sink may serve many trainers.
        samples: prompts to ask the half-trained model at every checkpoint
            ([`CheckpointSamples`][arkor_rx.samples.CheckpointSamples]); the
            answers go to every sink.

    Raises:
        ConfigError: a bad config value or dataset (the message names the field),
            bad callbacks or rules, or no client configuration in the environment.
    """
    given = locals()  # the knobs are the parameters named after JobConfig's fields
    knobs = {knob: given[knob] for knob in JobConfig.knobs()}
    config = JobConfig.of(model=model, dataset=dataset, lora=lora, **knobs)
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"name must be a non-empty string, got {name!r}")
    options = trainer_options(
        client=client,
        callbacks=callbacks,
        reconnect=reconnect,
        early_stopping=early_stopping,
        sinks=sinks,
        samples=samples,
    )
    from arkor_rx.trainer import Trainer  # the Trainer's module re-exports this one

    return Trainer(name=name.strip(), config=config, **options)


# help(create_trainer) lists the knobs with their descriptions on JobConfig.
create_trainer.__doc__ = (
    (create_trainer.__doc__ or "")
    + "\n    Knobs:\n"
    + "".join(f"        {line}\n" for line in JobConfig.knob_docs().splitlines())
)
