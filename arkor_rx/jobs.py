"""Job models: what the server says a job is, and the config a user submits.

Rule 1: server answers ([`TrainingJob`][arkor_rx.jobs.TrainingJob]) are tolerant: unknown fields are
ignored, unknown statuses kept as strings.

Rule 2: user input ([`JobConfig`][arkor_rx.jobs.JobConfig], dataset sources) is strict: a garbage
value is a [`ConfigError`][arkor_rx.errors.ConfigError] naming the field, raised
before anything is sent. Only the fields the user set go on the wire, in
camelCase.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_serializer,
)
from pydantic.alias_generators import to_camel

from arkor_rx.errors import ConfigError

__all__ = [
    "TERMINAL_STATUSES",
    "BlobDataset",
    "DatasetSource",
    "HuggingFaceDataset",
    "JobConfig",
    "JobStatus",
    "TrainingJob",
    "format_validation_error",
    "lora_knobs",
    "parse_dataset",
]

JobStatus: TypeAlias = Literal["queued", "running", "completed", "failed", "cancelled"]
"""The statuses the protocol names. Servers may add more; they are kept as strings."""

TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
"""Statuses after which a job never changes again."""


class _Wire(BaseModel):
    model_config = ConfigDict(
        frozen=True, alias_generator=to_camel, populate_by_name=True, extra="ignore"
    )


class TrainingJob(_Wire):
    """A training job as the server describes it."""

    id: str
    """The job id."""
    org_id: str | None = None
    project_id: str | None = None
    name: str = ""
    status: str = "queued"
    """``queued``, ``running``, ``completed``, ``failed`` or ``cancelled`` (or a newer one)."""
    config: dict[str, Any] = Field(default_factory=dict)
    """The config as the server stored it (camelCase keys)."""
    error: str | None = None
    """Why the job failed, when it did."""
    created_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None

    @property
    def is_terminal(self) -> bool:
        """True once the job is completed, failed or cancelled."""
        return self.status in TERMINAL_STATUSES


class _Input(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        str_strip_whitespace=True,
    )


class HuggingFaceDataset(_Input):
    """A dataset on the Hugging Face hub (or built into the local backend)."""

    type: Literal["huggingface"] = "huggingface"
    name: Annotated[str, Field(min_length=1)]
    """``owner/name`` of the dataset, e.g. ``arkorlab/triage-demo``."""
    split: str | None = None
    subset: str | None = None


class BlobDataset(_Input):
    """A dataset file at a URL (``file://`` works with the local backend)."""

    type: Literal["blob"] = "blob"
    url: Annotated[str, Field(min_length=1)]
    """Where the chat JSONL file lives."""
    token: SecretStr | None = None
    """An access token for the URL. Masked in every repr."""

    @field_serializer("token", when_used="json")
    def _reveal(self, token: SecretStr | None) -> str | None:
        # The wire needs the real value; reprs and logs only ever see '**********'.
        return None if token is None else token.get_secret_value()


DatasetSource: TypeAlias = Annotated[HuggingFaceDataset | BlobDataset, Field(discriminator="type")]
"""Where the training data comes from."""

_dataset_adapter: TypeAdapter[HuggingFaceDataset | BlobDataset] = TypeAdapter(DatasetSource)

# Strict: a number sent as a string ("10") or a boolean is a mistake to report,
# not to coerce; an int is still a fine float.
PositiveInt = Annotated[int, Field(gt=0, strict=True)]
NonNegativeInt = Annotated[int, Field(ge=0, strict=True)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]
StrictBool = Annotated[bool, Field(strict=True)]


class JobConfig(_Input):
    """The training config of a job: model, data and the optional knobs.

    The one source of the job settings: ``create_trainer`` takes each knob as
    a keyword of the same name, and its docs are the descriptions here.
    Every knob is optional; only those set are sent. Values are checked here,
    so a typo or a negative learning rate fails before any request is made::

        >>> JobConfig(model="m", dataset_source={"type": "huggingface", "name": "a/b"},
        ...           max_steps=10).to_wire()
        {'model': 'm', 'datasetSource': {'type': 'huggingface', 'name': 'a/b'}, 'maxSteps': 10}
    """

    model_config = ConfigDict(use_attribute_docstrings=True)

    model: Annotated[str, Field(min_length=1)]
    """The base model to fine-tune, e.g. ``unsloth/gemma-4-E4B-it``."""
    dataset_source: DatasetSource
    """The training data."""
    max_steps: PositiveInt | None = None
    """Stop after this many optimizer steps (``maxSteps``)."""
    num_train_epochs: PositiveFloat | None = None
    """Passes over the data, when ``max_steps`` is not set."""
    learning_rate: PositiveFloat | None = None
    """Peak learning rate (``learningRate``)."""
    batch_size: PositiveInt | None = None
    """Examples per step."""
    optim: str | None = None
    """Optimizer name, e.g. ``adamw``."""
    lr_scheduler_type: str | None = None
    """``linear``, ``cosine`` or ``constant``."""
    weight_decay: NonNegativeFloat | None = None
    """Decoupled weight decay."""
    warmup_steps: NonNegativeInt | None = None
    """Steps of linear warm-up."""
    logging_steps: PositiveInt | None = None
    """Send a ``training.log`` every this many steps."""
    save_steps: PositiveInt | None = None
    """Save a checkpoint every this many steps."""
    eval_steps: PositiveInt | None = None
    """Evaluate on held-out data every this many steps."""
    lora_r: PositiveInt | None = None
    """Adapter rank (``loraR``; or ``lora={'r': ...}``)."""
    lora_alpha: PositiveFloat | None = None
    """Adapter scale (``loraAlpha``; or ``lora={'alpha': ...}``)."""
    max_length: PositiveInt | None = None
    """Longest tokenized example."""
    load_in_4bit: StrictBool | None = Field(default=None, alias="loadIn4bit")
    """Load the base model in 4 bit (the wire spells it ``loadIn4bit``)."""
    train_on_responses_only: StrictBool | None = None
    """Compute the loss on assistant turns only."""
    dataset_format: str | None = None
    """The dataset's format, when the server cannot guess it."""
    dataset_split: str | None = None
    """Which split to train on."""
    dry_run: StrictBool | None = None
    """Validate everything but train nothing."""
    seed: Annotated[int, Field(strict=True)] | None = None
    """Random seed (understood by the local backend; others may ignore it)."""

    @classmethod
    def of(
        cls,
        *,
        model: str,
        dataset: Mapping[str, Any] | HuggingFaceDataset | BlobDataset,
        lora: Mapping[str, Any] | None = None,
        **knobs: Any,
    ) -> JobConfig:
        """The config of ``create_trainer``'s arguments: knobs that are None stay unset.

        ``lora={"r": ..., "alpha": ...}`` is the same as ``lora_r=``/``lora_alpha=``.

        Examples:
            >>> JobConfig.of(model="m", dataset={"type": "huggingface", "name": "a/b"},
            ...              lora={"r": 8}, max_steps=None).to_wire()["loraR"]
            8

        Raises:
            ConfigError: a bad value (naming the field), a bad dataset, or a
                LoRA setting given twice with two values.
        """
        for key, value in lora_knobs(lora).items():
            if knobs.get(key) is not None and knobs[key] != value:
                raise ConfigError(f"{key} is given twice (as {key}= and in lora=) with two values")
            knobs[key] = value
        return cls.build(
            model=model,
            dataset_source=parse_dataset(dataset),
            **{k: v for k, v in knobs.items() if v is not None},
        )

    @classmethod
    def knobs(cls) -> tuple[str, ...]:
        """The optional knobs: every field but ``model`` and ``dataset_source``, in order.

        Examples:
            >>> JobConfig.knobs()[:3]
            ('max_steps', 'num_train_epochs', 'learning_rate')
        """
        return tuple(name for name in cls.model_fields if name not in _REQUIRED)

    @classmethod
    def knob_docs(cls) -> str:
        """One ``name: description`` line per knob, for generated docs.

        Examples:
            >>> JobConfig.knob_docs().splitlines()[0]
            'max_steps: Stop after this many optimizer steps (``maxSteps``).'
        """
        fields = cls.model_fields
        return "\n".join(f"{name}: {fields[name].description}" for name in cls.knobs())

    def to_wire(self) -> dict[str, Any]:
        """The camelCase JSON object sent to the server, with only the fields set."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    @classmethod
    def build(cls, **values: Any) -> JobConfig:
        """Validate ``values`` (snake_case or camelCase), raising ConfigError naming the field."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, "job config")) from None


_REQUIRED = ("model", "dataset_source")


def lora_knobs(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """``lora={"r": ..., "alpha": ...}`` as the knobs ``lora_r``/``lora_alpha``.

    Examples:
        >>> lora_knobs({"r": 16, "alpha": 32})
        {'lora_r': 16, 'lora_alpha': 32}

    Raises:
        ConfigError: not a mapping, or a key other than ``r`` and ``alpha``.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"lora must be a dict such as {{'r': 16, 'alpha': 16}}, got {value!r}")
    unknown = sorted(str(k) for k in value if k not in ("r", "alpha"))
    if unknown:
        raise ConfigError(f"lora: unknown key {', '.join(unknown)}; expected 'r' and/or 'alpha'")
    names = {"r": "lora_r", "alpha": "lora_alpha"}
    return {names[key]: value[key] for key in ("r", "alpha") if key in value}


def parse_dataset(
    value: Mapping[str, Any] | HuggingFaceDataset | BlobDataset,
) -> HuggingFaceDataset | BlobDataset:
    """Validate a dataset source given as a dict or a model.

    Raises:
        ConfigError: unknown ``type``, or a missing or bad field.
    """
    if isinstance(value, HuggingFaceDataset | BlobDataset):
        return value
    try:
        return _dataset_adapter.validate_python(value)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "dataset")) from None


def format_validation_error(exc: ValidationError, what: str) -> str:
    """One readable line per problem: ``job config: learningRate: Input should be > 0 (got -1)``.

    Input values are shown except for fields whose name suggests a secret.
    """
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        shown = "" if "token" in loc.lower() else f" (got {err.get('input')!r})"
        if err["type"] in ("missing", "extra_forbidden"):
            shown = ""
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        if err["type"] == "union_tag_invalid":  # a mistyped `type`: suggest, don't quote pydantic
            tag, tags = str(err["ctx"]["tag"]), str(err["ctx"]["expected_tags"])
            near = difflib.get_close_matches(tag, [t.strip(" '") for t in tags.split(",")], 1)
            loc, shown = (f"{loc}.type" if err["loc"] else "type"), ""
            msg = f"unknown type {tag!r}" + (f", did you mean {near[0]!r}?" if near else "")
            msg += f" (expected one of {tags})"
        parts.append(f"{loc}: {msg}{shown}")
    return f"invalid {what}: " + "; ".join(parts)
