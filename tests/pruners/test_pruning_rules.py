"""The pure rules of arkor_rx.pruning, one by one."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arkor_rx.pruning import (
    estimate_min_resource,
    is_first_in_interval,
    percentile,
    promotable,
    rung_promotion_step,
)

RULES = settings(max_examples=300, derandomize=True, database=None, deadline=None)
FLOATS = st.one_of(st.sampled_from([0.0, -0.0, 1.0, 2.0, math.inf, -math.inf]), st.floats())


def _same_double(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@RULES
@given(st.lists(FLOATS, max_size=12), st.floats(0, 100))
def test_percentile_is_numpys_nanpercentile_to_the_bit(values: list[float], q: float) -> None:
    finite = sorted(v for v in values if not math.isnan(v))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN and inf - inf slices
        expected = float(np.nanpercentile(np.array(values, dtype=float), q)) if values else math.nan
    assert _same_double(percentile(finite, q), expected)


def test_percentile_examples() -> None:
    assert percentile([], 50.0) != percentile([], 50.0)  # NaN
    assert percentile([3.0], 0.0) == percentile([3.0], 100.0) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50.0) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 100.0) == 4.0
    assert math.isnan(percentile([1.0, math.inf], 50.0))  # inf - 1 times 0.5, from inf: nan


@pytest.mark.parametrize(
    ("step", "previous", "warmup", "interval", "first"),
    [
        (0, -1, 0, 1, True),
        (5, 4, 0, 1, True),
        (10, 9, 0, 10, True),  # 10 opens [10, 20)
        (11, 10, 0, 10, False),  # 10 already checked this window
        (11, 5, 0, 10, True),  # nothing reported yet in [10, 20): postponed check
        (7, 6, 5, 2, True),  # windows at 5, 7, 9 ...
        (8, 7, 5, 2, False),
    ],
)
def test_is_first_in_interval(
    step: int, previous: int, warmup: int, interval: int, first: bool
) -> None:
    assert is_first_in_interval(step, previous, warmup, interval) is first


def test_rungs_and_auto_min_resource() -> None:
    assert [rung_promotion_step(10, 3, 0, k) for k in range(3)] == [10, 30, 90]
    assert rung_promotion_step(1, 4, 2, 0) == 16
    assert estimate_min_resource(None) is None
    assert estimate_min_resource(50) == 1
    assert estimate_min_resource(1234) == 12


def test_promotable_keeps_the_top_share_with_ties() -> None:
    assert promotable(0.5, [], 4, "min") == (True, 1, 1)
    assert promotable(0.6, [0.5], 4, "min") == (False, 1, 2)
    assert promotable(0.5, [0.5], 4, "min") == (True, 1, 2)  # a tie goes on
    assert promotable(0.3, [0.1, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8], 4, "min") == (False, 2, 8)
    assert promotable(0.2, [0.1, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], 4, "min") == (True, 2, 8)
    assert promotable(0.85, [0.1, 0.3, 0.4, 0.5, 0.6, 0.8, 0.9], 4, "max") == (True, 2, 8)
    assert promotable(0.6, [0.1, 0.3, 0.4, 0.5, 0.7, 0.8, 0.9], 4, "max") == (False, 2, 8)
