"""Smoothers: ema, tensorboard_smooth, time_weighted_ema, against plain references."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arkor_rx import operators as aop
from arkor_rx.errors import ConfigError
from arkor_rx.operators import MetricPoint
from tests.operators.ops_helpers import points, reference_tensorboard, run_points, same

values_st = st.lists(
    st.one_of(
        st.floats(-1e6, 1e6, allow_nan=False),
        st.sampled_from([math.nan, math.inf, -math.inf]),
    ),
    max_size=40,
)


def reference_ema(values: list[float], a: float) -> list[float]:
    state: float | None = None
    out = []
    for y in values:
        if not math.isfinite(y):
            out.append(y)
            continue
        state = y if state is None else a * y + (1 - a) * state
        out.append(state)
    return out


@given(values=values_st, w=st.floats(0.0, 0.999))
def test_tensorboard_smooth_matches_the_formula(values: list[float], w: float) -> None:
    out = run_points(points(values), aop.tensorboard_smooth(w))
    assert [p.step for p in out] == list(range(len(values)))
    assert all(same(a.value, b) for a, b in zip(out, reference_tensorboard(values, w), strict=True))


def test_tensorboard_smooth_first_value_is_unbiased_and_nan_does_not_advance() -> None:
    out = run_points(points([2.0, math.nan, 2.0]), aop.tensorboard_smooth(0.9))
    assert out[0].value == pytest.approx(2.0)
    assert math.isnan(out[1].value)
    # n counts only finite points: 2 finite equal values smooth to exactly that value.
    assert out[2].value == pytest.approx(2.0)


def test_tensorboard_smooth_weight_zero_is_identity() -> None:
    values = [3.0, 1.0, 4.0]
    assert [p.value for p in run_points(points(values), aop.tensorboard_smooth(0.0))] == values


@given(values=values_st, a=st.floats(0.001, 1.0))
def test_ema_matches_reference(values: list[float], a: float) -> None:
    out = run_points(points(values), aop.ema(a))
    assert all(same(p.value, r) for p, r in zip(out, reference_ema(values, a), strict=True))


@given(
    data=st.lists(
        st.tuples(st.integers(0, 50), st.floats(-1e3, 1e3, allow_nan=False)), max_size=30
    ),
    half_life=st.floats(0.5, 100.0),
)
def test_time_weighted_ema_matches_the_direct_weighted_mean(
    data: list[tuple[int, float]], half_life: float
) -> None:
    # Make the steps non-decreasing by accumulating the drawn gaps.
    step, items = 0, []
    for gap, value in data:
        step += gap
        items.append(MetricPoint(step, value))
    out = run_points(items, aop.time_weighted_ema(half_life))
    for i, got in enumerate(out):
        weights = [0.5 ** ((items[i].step - p.step) / half_life) for p in items[: i + 1]]
        expected = sum(w * p.value for w, p in zip(weights, items, strict=False)) / sum(weights)
        assert got.step == items[i].step
        assert math.isclose(got.value, expected, rel_tol=1e-9, abs_tol=1e-9)


def test_time_weighted_ema_weighs_by_step_distance_not_by_count() -> None:
    near = run_points([MetricPoint(0, 0.0), MetricPoint(1, 10.0)], aop.time_weighted_ema(10))
    far = run_points([MetricPoint(0, 0.0), MetricPoint(100, 10.0)], aop.time_weighted_ema(10))
    assert near[1].value < 6.0  # the old value still weighs almost as much
    assert far[1].value > 9.99  # the old value has decayed away


def test_time_weighted_ema_passes_non_finite_and_clamps_backward_steps() -> None:
    out = run_points(
        [MetricPoint(10, 4.0), MetricPoint(11, math.nan), MetricPoint(5, 0.0)],
        aop.time_weighted_ema(10),
    )
    assert out[0].value == 4.0
    assert math.isnan(out[1].value)
    assert out[2] == MetricPoint(5, 2.0)  # Δstep < 0 counts as 0: plain mean


@pytest.mark.parametrize(
    ("factory", "bad"),
    [
        (aop.ema, 0.0),
        (aop.ema, 1.5),
        (aop.tensorboard_smooth, 1.0),
        (aop.tensorboard_smooth, -0.1),
        (aop.time_weighted_ema, 0.0),
        (aop.time_weighted_ema, math.nan),
    ],
)
def test_smoothers_reject_bad_parameters(factory: object, bad: float) -> None:
    with pytest.raises(ConfigError):
        factory(bad)  # type: ignore[operator]
