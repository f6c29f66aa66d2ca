"""A sweep's knobs: which names a run may set, and the runs of a grid or a list.

Nothing here sends anything or builds a Trainer: these are the checks
[`create_sweep`][arkor_rx.sweep.create_sweep] runs on its arguments, each
failure a [`ConfigError`][arkor_rx.errors.ConfigError] naming where it is.
"""

from __future__ import annotations

import difflib
import inspect
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from arkor_rx.errors import ConfigError
from arkor_rx.trainer import create_trainer

__all__ = ["check_knobs", "explicit_runs", "grid_runs", "knob_names", "knob_text"]

_NOT_KNOBS = frozenset(
    {"name", "callbacks", "client", "reconnect", "early_stopping", "sinks", "samples"}
)


def knob_names() -> tuple[str, ...]:
    """The names a grid, a run or the shared config may set: ``create_trainer``'s config keywords.

    Examples:
        >>> "learning_rate" in knob_names(), "lora_r" in knob_names(), "client" in knob_names()
        (True, True, False)
    """
    return tuple(p for p in inspect.signature(create_trainer).parameters if p not in _NOT_KNOBS)


def knob_text(knobs: Mapping[str, Any]) -> str:
    """``"a=1, b=2"``: a run's knobs as its job name shows them."""
    return ", ".join(f"{k}={v}" for k, v in knobs.items())


def check_knobs(where: str, keys: Sequence[Any], allowed: Sequence[str]) -> None:
    """ConfigError naming ``where`` for the first key that is not a knob (with a close match)."""
    for key in keys:
        if not isinstance(key, str) or key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{where}: unknown knob {key!r}{hint} (knobs are create_trainer's "
                f"config keywords, e.g. learning_rate, lora_r)"
            )


def grid_runs(
    grid: object, shared: Mapping[str, Any], allowed: Sequence[str]
) -> list[dict[str, Any]]:
    """One dict of knobs per combination of ``grid`` (the last knob varying fastest)."""
    if not isinstance(grid, Mapping) or not grid:
        raise ConfigError(f"grid must be a non-empty dict of knob -> list of values, got {grid!r}")
    check_knobs("grid", list(grid), allowed)
    for key, values in grid.items():
        if key in shared:
            raise ConfigError(f"grid: {key} is also set in the shared config; set it in one place")
        if isinstance(values, str | bytes | Mapping) or not isinstance(values, Sequence):
            raise ConfigError(f"grid[{key!r}] must be a list of values, got {values!r}")
        if not values:
            raise ConfigError(f"grid[{key!r}] is an empty list: the grid would have no runs")
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def explicit_runs(runs: object, allowed: Sequence[str]) -> list[dict[str, Any]]:
    """The dicts of knobs of ``runs=``, checked."""
    if isinstance(runs, str | bytes | Mapping) or not isinstance(runs, Sequence) or not runs:
        raise ConfigError(f"runs must be a non-empty list of dicts of knobs, got {runs!r}")
    out: list[dict[str, Any]] = []
    for index, item in enumerate(runs):
        if not isinstance(item, Mapping):
            raise ConfigError(f"runs[{index}] must be a dict of knobs, got {item!r}")
        check_knobs(f"runs[{index}]", list(item), allowed)
        out.append(dict(item))
    return out
