"""``early_stopping(*rules, combine=...)``: the one entry point that builds a stop rule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from arkor_rx.errors import ConfigError
from arkor_rx.operators._all_of import AllOf
from arkor_rx.operators._any_of import AnyOf
from arkor_rx.stopping import StopRule, flatten_rules

__all__ = ["early_stopping"]


def early_stopping(
    *rules: StopRule | Sequence[StopRule],
    combine: Literal["any", "all"] = "any",
) -> AnyOf | AllOf:
    """Combine rules into one StopRule: ``"any"`` fires first, ``"all"`` waits for every rule."""
    if combine == "any":
        return AnyOf(flatten_rules(rules))
    if combine == "all":
        return AllOf(flatten_rules(rules))
    raise ConfigError(f"combine must be 'any' or 'all', got {combine!r}")
