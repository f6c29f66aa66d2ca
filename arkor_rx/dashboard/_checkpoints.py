"""A run's checkpoint samples as the live views show them: one view per sample, and their fold.

Rule 1: a checkpoint shows one empty view from its ``checkpoint.saved`` event until
its answers arrive; the answers then take its place (after the others when the
checkpoint was never seen), whether they come as one
[`CheckpointAnswer`][arkor_rx.dashboard.CheckpointAnswer] or as the
[`SamplesAnswered`][arkor_rx.samples.SamplesAnswered] of a checkpoint's samples.
"""

from __future__ import annotations

from dataclasses import dataclass

from arkor_rx.dashboard._actions import CheckpointAnswer
from arkor_rx.samples import SamplesAnswered

__all__ = ["CheckpointView", "with_answers"]


@dataclass(frozen=True, slots=True)
class CheckpointView:
    """One checkpoint sample as shown: the step, the question and, once known, the answer."""

    step: int
    answer: str | None = None
    error: bool = False
    prompt: str | None = None


def with_answers(
    checkpoints: tuple[CheckpointView, ...], action: CheckpointAnswer | SamplesAnswered
) -> tuple[CheckpointView, ...]:
    """``checkpoints`` with the views of ``action``'s step replaced by its answers."""
    step = action.step
    if isinstance(action, CheckpointAnswer):
        old = next((c for c in checkpoints if c.step == step), None)
        prompt = action.prompt if action.prompt is not None else (old.prompt if old else None)
        views = [CheckpointView(step, action.text, action.error, prompt)]
    else:
        views = [
            CheckpointView(
                step, s.answer if s.error is None else s.error, s.error is not None, s.prompt
            )
            for s in action.samples
        ] or [CheckpointView(step, "")]
    kept = [c for c in checkpoints if c.step != step]
    at = next((i for i, c in enumerate(checkpoints) if c.step == step), len(kept))
    return (*kept[:at], *views, *kept[at:])
