"""Rolling windows, step windows and time windows, checked against plain references."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pytest
import reactivex
from hypothesis import given
from hypothesis import strategies as st
from reactivex import operators as ops
from reactivex.testing import TestScheduler

from arkor_rx import operators as aop
from arkor_rx.errors import ConfigError
from arkor_rx.operators import MetricPoint
from tests.operators.ops_helpers import points, run_points, same, virtual

values_st = st.lists(
    st.one_of(
        st.floats(allow_nan=False, allow_infinity=False, width=32),
        st.sampled_from([math.nan, math.inf, -math.inf]),
    ),
    max_size=40,
)


def reference_rolling(
    values: Sequence[float], n: int, reduce: Callable[[list[float]], float]
) -> list[float]:
    """Spec: output i reduces values[max(0, i-n+1) : i+1]; NaN there gives NaN."""
    out = []
    for i in range(len(values)):
        window = list(values[max(0, i - n + 1) : i + 1])
        out.append(math.nan if any(math.isnan(v) for v in window) else reduce(window))
    return out


def _mean(window: list[float]) -> float:
    return sum(window) / len(window)


@pytest.mark.parametrize(
    ("factory", "reduce"),
    [(aop.rolling_mean, _mean), (aop.rolling_min, min), (aop.rolling_max, max)],
)
@given(values=values_st, n=st.integers(1, 8))
def test_rolling_matches_reference(
    factory: Callable[[int], aop.PointOperator],
    reduce: Callable[[list[float]], float],
    values: list[float],
    n: int,
) -> None:
    out = run_points(points(values), factory(n))
    assert [p.step for p in out] == list(range(len(values)))
    expected = reference_rolling(values, n, reduce)
    assert all(same(a.value, b) for a, b in zip(out, expected, strict=True))


def test_rolling_mean_examples_partial_window_and_nan_leaving() -> None:
    out = run_points(points([1.0, 3.0, math.nan, 5.0, 7.0, 9.0]), aop.rolling_mean(2))
    got = [p.value for p in out]
    assert got[:2] == [1.0, 2.0]
    assert math.isnan(got[2])
    assert math.isnan(got[3])
    assert got[4:] == [6.0, 8.0]


@pytest.mark.parametrize("factory", [aop.rolling_mean, aop.rolling_min, aop.rolling_max])
@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_rolling_rejects_bad_n(factory: Callable[[object], object], bad: object) -> None:
    with pytest.raises(ConfigError, match="n must"):
        factory(bad)


def test_rolling_state_is_per_subscription() -> None:
    op = aop.rolling_mean(3)
    source = reactivex.from_iterable(points([3.0, 6.0]))
    first = source.pipe(op, ops.to_list()).run()
    second = source.pipe(op, ops.to_list()).run()
    assert [p.value for p in first] == [p.value for p in second] == [3.0, 4.5]


@given(
    steps=st.lists(st.integers(0, 200), max_size=40).map(sorted),
    n=st.integers(1, 30),
)
def test_window_by_steps_matches_reference(steps: list[int], n: int) -> None:
    items = [MetricPoint(s, float(i)) for i, s in enumerate(steps)]
    out = run_points(items, aop.window_by_steps(n))
    # Reference: consecutive items with the same step // n, in order.
    expected: list[list[MetricPoint]] = []
    for item in items:
        if expected and expected[-1][-1].step // n == item.step // n:
            expected[-1].append(item)
        else:
            expected.append([item])
    assert out == expected


def test_window_by_steps_emits_a_window_when_the_next_one_starts() -> None:
    scheduler = TestScheduler()
    timeline = [
        (10.0, MetricPoint(1, 1.0)),
        (20.0, MetricPoint(9, 2.0)),
        (30.0, MetricPoint(12, 3.0)),
    ]
    records, _ = virtual(scheduler, timeline, aop.window_by_steps(10), complete_at=40.0)
    assert records == [
        (30.0, "next", [MetricPoint(1, 1.0), MetricPoint(9, 2.0)]),
        (40.0, "next", [MetricPoint(12, 3.0)]),
        (40.0, "completed", None),
    ]


def test_window_by_steps_works_on_events_with_a_step() -> None:
    from arkor_rx.events import CheckpointSaved

    out = run_points([CheckpointSaved(step=s) for s in (50, 99, 100)], aop.window_by_steps(100))
    assert [[c.step for c in w] for w in out] == [[50, 99], [100]]


def test_window_by_time_in_virtual_time_keeps_empty_windows() -> None:
    scheduler = TestScheduler()
    timeline = [(1.0, "a"), (2.0, "b"), (12.0, "c")]
    records, _ = virtual(scheduler, timeline, aop.window_by_time(5.0), complete_at=14.0)
    assert records == [
        (5.5, "next", ["a", "b"]),
        (10.5, "next", []),
        (14.0, "next", ["c"]),
        (14.0, "completed", None),
    ]


def test_window_by_time_uses_an_explicit_scheduler() -> None:
    scheduler = TestScheduler()
    out: list[list[int]] = []
    reactivex.from_iterable([1, 2]).pipe(aop.window_by_time(3.0, scheduler)).subscribe(out.append)
    scheduler.advance_to(3.0)
    assert out == [[1, 2]]


@pytest.mark.parametrize("bad", [0, -1.0, math.inf, "5"])
def test_window_by_time_rejects_bad_seconds(bad: object) -> None:
    with pytest.raises(ConfigError, match="seconds"):
        aop.window_by_time(bad)  # type: ignore[arg-type]
