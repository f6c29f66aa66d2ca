"""Job models: what the server says a job is, and the config a user submits.

Rule 1: server answers (:class:`TrainingJob`) are tolerant: unknown fields are
ignored, unknown statuses kept as strings.

Rule 2: user input (:class:`JobConfig`, dataset sources) is strict: a garbage
value is a :class:`~arkor_rx.errors.ConfigError` naming the field, raised
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

    Every knob is optional; only those set are sent. Values are checked here,
    so a typo or a negative learning rate fails before any request is made::

        >>> JobConfig(model="m", dataset_source={"type": "huggingface", "name": "a/b"},
        ...           max_steps=10).to_wire()
        {'model': 'm', 'datasetSource': {'type': 'huggingface', 'name': 'a/b'}, 'maxSteps': 10}
    """

    model: Annotated[str, Field(min_length=1)]
    """The base model to fine-tune, e.g. ``unsloth/gemma-4-E4B-it``."""
    dataset_source: DatasetSource
    """The training data."""
    max_steps: PositiveInt | None = None
    num_train_epochs: PositiveFloat | None = None
    learning_rate: PositiveFloat | None = None
    batch_size: PositiveInt | None = None
    optim: str | None = None
    lr_scheduler_type: str | None = None
    weight_decay: NonNegativeFloat | None = None
    warmup_steps: NonNegativeInt | None = None
    logging_steps: PositiveInt | None = None
    save_steps: PositiveInt | None = None
    eval_steps: PositiveInt | None = None
    lora_r: PositiveInt | None = None
    lora_alpha: PositiveFloat | None = None
    max_length: PositiveInt | None = None
    load_in_4bit: StrictBool | None = Field(default=None, alias="loadIn4bit")
    """Load the base model in 4-bit (the wire spells it ``loadIn4bit``)."""
    train_on_responses_only: StrictBool | None = None
    dataset_format: str | None = None
    dataset_split: str | None = None
    dry_run: StrictBool | None = None
    seed: Annotated[int, Field(strict=True)] | None = None
    """Random seed (understood by the local backend; others may ignore it)."""

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
