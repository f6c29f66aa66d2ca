"""The typed peer's models: what a user of httpx-sse + pydantic writes, the obvious way.

The same fields and types as :mod:`arkor_rx.events` (frozen pydantic v2 models,
camelCase on the wire, extra fields ignored), written out independently as a
user would, and one module-level ``TypeAdapter`` over a union discriminated by
the JSON ``type`` (pydantic's documented way). The peer calls
``adapter.validate_json(sse.data)`` once per non-ping frame.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.alias_generators import to_camel

__all__ = ["adapter"]


class _Base(BaseModel):
    model_config = ConfigDict(
        frozen=True, alias_generator=to_camel, populate_by_name=True, extra="ignore"
    )

    job_id: str = ""
    timestamp: str | None = None


class Started(_Base):
    type: Literal["training.started"]
    metadata: dict[str, Any] | None = None


class Log(_Base):
    type: Literal["training.log"]
    step: int
    loss: float | None = None
    eval_loss: float | None = None
    learning_rate: float | None = None
    epoch: float | None = None
    samples_per_second: float | None = None


class Checkpoint(_Base):
    type: Literal["checkpoint.saved"]
    step: int
    artifacts: list[Any] = Field(default_factory=list)


class Completed(_Base):
    type: Literal["training.completed"]
    metrics: dict[str, Any] | None = None
    artifacts: list[Any] = Field(default_factory=list)


class Failed(_Base):
    type: Literal["training.failed"]
    error: str = "unknown error"
    step: int | None = None


Event = Annotated[Started | Log | Checkpoint | Completed | Failed, Field(discriminator="type")]

adapter: TypeAdapter[Event] = TypeAdapter(Event)
"""One adapter for every event type."""
