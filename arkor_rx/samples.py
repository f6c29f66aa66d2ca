"""Checkpoint samples: the half-trained model's answers to fixed prompts, at every checkpoint.

Rule 1: [`CheckpointSamples`][arkor_rx.samples.CheckpointSamples] is configuration: which prompts to
ask at
each ``checkpoint.saved`` and with how many tokens. The Trainer asks them
through the checkpoint's ``infer``, serialized like a callback.

Rule 2: an answer that fails is recorded as that sample's ``error``; it never
fails the run.

Rule 3: the answers of one checkpoint travel as one
[`SamplesAnswered`][arkor_rx.samples.SamplesAnswered]
item, next to the events, to every sink and live view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from arkor_rx.errors import ConfigError

if TYPE_CHECKING:
    from arkor_rx.callbacks import CheckpointContext

__all__ = ["CheckpointSamples", "Sample", "SamplesAnswered", "ask_samples"]


@dataclass(frozen=True, slots=True)
class CheckpointSamples:
    """Prompts to ask the half-trained model at every checkpoint.

    Examples:
        >>> CheckpointSamples(prompts=["My invoice is wrong"], max_tokens=16).prompts
        ('My invoice is wrong',)
    """

    prompts: Sequence[str]
    """The user messages, each asked on its own (one single-turn chat per prompt)."""
    max_tokens: int = 80
    """The answer length limit sent as ``maxTokens``."""
    temperature: float | None = None
    """Sampling temperature, or None for the backend's default."""
    system: str | None = None
    """An optional system message put before each prompt."""

    def __post_init__(self) -> None:
        if isinstance(self.prompts, str):
            raise ConfigError("CheckpointSamples.prompts must be a list of strings, not one string")
        prompts = tuple(self.prompts)
        if not prompts or not all(isinstance(p, str) and p for p in prompts):
            raise ConfigError(
                "CheckpointSamples.prompts must be a non-empty list of non-empty strings"
            )
        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int):
            raise ConfigError("CheckpointSamples.max_tokens must be a positive int")
        if self.max_tokens < 1:
            raise ConfigError("CheckpointSamples.max_tokens must be a positive int")
        object.__setattr__(self, "prompts", prompts)


@dataclass(frozen=True, slots=True)
class Sample:
    """One prompt and what the checkpoint answered (or the error it gave)."""

    prompt: str
    """The prompt that was asked."""
    answer: str | None = None
    """The answer text, or None when asking failed."""
    error: str | None = None
    """Why asking failed, or None."""


@dataclass(frozen=True, slots=True)
class SamplesAnswered:
    """The answers of one checkpoint: handed to every sink next to the events."""

    job_id: str
    """The job the checkpoint belongs to."""
    step: int
    """The checkpoint's step."""
    samples: tuple[Sample, ...] = field(default_factory=tuple)
    """One entry per prompt, in the order of
    [`CheckpointSamples.prompts`][arkor_rx.samples.CheckpointSamples.prompts]."""
    type: str = "checkpoint.samples"
    """A type name like the events', so a sink can switch on ``item.type``."""


async def ask_samples(ctx: CheckpointContext, samples: CheckpointSamples) -> SamplesAnswered:
    """Ask each prompt of ``samples`` at the checkpoint of ``ctx``, one after the other.

    Returns:
        One [`Sample`][arkor_rx.samples.Sample] per prompt, in order; a prompt
        that failed carries the error's message instead of an answer (Rule 2).
    """
    answers = []
    for prompt in samples.prompts:
        messages: list[dict[str, str]] = []
        if samples.system:
            messages.append({"role": "system", "content": samples.system})
        messages.append({"role": "user", "content": prompt})
        try:
            response = await ctx.infer(
                messages, max_tokens=samples.max_tokens, temperature=samples.temperature
            )
            answers.append(Sample(prompt, answer=await response.text()))
        except Exception as exc:
            answers.append(Sample(prompt, error=f"{type(exc).__name__}: {exc}"))
    return SamplesAnswered(
        job_id=ctx.event.job_id or ctx.job.id, step=ctx.step, samples=tuple(answers)
    )
