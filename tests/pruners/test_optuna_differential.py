"""Every prune decision equals Optuna's, step by step, over random sweeps.

The same randomly generated sweep (runs, steps, the interleaving of reports
across runs, completions, failures, None/NaN/inf values, ties, both
directions, the pruners' parameters) is played on a real Optuna study and
pushed through arkor_rx's pruner; after every single action both must agree
on whether a run was pruned, which one, and at which step.

Deterministic and bounded for CI: ``derandomize=True``, no example database,
:data:`EXAMPLES` examples per pruner. Each test also checks that the
examples were not vacuous: a good share of them pruned at least one run.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

import optuna
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from arkor_rx import operators as aop
from arkor_rx.runs import PruneDecision
from tests.pruners.sweeps import Sweep, Verdicts, arkor_verdicts, optuna_verdicts, sweeps

EXAMPLES = 300
DIFFERENTIAL = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MODES = st.sampled_from(["min", "max"])
PERCENTILES = st.one_of(
    st.sampled_from([0.0, 25.0, 50.0, 100.0]), st.floats(0, 100, allow_nan=False)
)
STARTUP = st.sampled_from([0, 1, 1, 2, 3])
WARMUP = st.integers(0, 4)
INTERVAL = st.integers(1, 3)
MIN_RUNS = st.sampled_from([1, 1, 2, 3])


class Tally:
    """How many examples ran, and how many of them pruned at least one run."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def same(self, sweep: Sweep, theirs: Verdicts, ours: Verdicts) -> None:
        assert ours == theirs, f"sweep: {sweep}"
        pruned = sum(v is not None for v in theirs)
        event(f"runs pruned: {pruned}")
        self.counts["examples"] += 1
        self.counts["pruning examples"] += pruned > 0
        self.counts["decisions"] += pruned

    def check_not_vacuous(self) -> None:
        assert self.counts["examples"] == EXAMPLES
        assert self.counts["pruning examples"] >= EXAMPLES // 10, self.counts


def _once_each(decisions: list[PruneDecision], rule: str) -> None:
    assert all(d.decision.rule == rule for d in decisions)
    assert len({d.run.index for d in decisions}) == len(decisions)


def test_median_pruner_decides_as_optuna() -> None:
    tally = Tally()

    @DIFFERENTIAL
    @given(sweeps(), MODES, STARTUP, WARMUP, INTERVAL, MIN_RUNS)
    def example(
        sweep: Sweep, mode: Literal["min", "max"], startup: int, warmup: int, every: int, least: int
    ) -> None:
        reference = optuna.pruners.MedianPruner(startup, warmup, every, n_min_trials=least)
        ours = aop.median_pruner(
            "eval_loss",
            mode=mode,
            n_startup_runs=startup,
            n_warmup_steps=warmup,
            interval_steps=every,
            n_min_runs=least,
        )
        verdicts, decisions = arkor_verdicts(ours, sweep)
        tally.same(sweep, optuna_verdicts(reference, mode, sweep), verdicts)
        _once_each(decisions, "prune.median")

    example()
    tally.check_not_vacuous()


def test_percentile_pruner_decides_as_optuna() -> None:
    tally = Tally()

    @DIFFERENTIAL
    @given(sweeps(), MODES, PERCENTILES, STARTUP, WARMUP, INTERVAL, MIN_RUNS)
    def example(
        sweep: Sweep,
        mode: Literal["min", "max"],
        q: float,
        startup: int,
        warmup: int,
        every: int,
        least: int,
    ) -> None:
        reference = optuna.pruners.PercentilePruner(q, startup, warmup, every, n_min_trials=least)
        ours = aop.percentile_pruner(
            q,
            "eval_loss",
            mode=mode,
            n_startup_runs=startup,
            n_warmup_steps=warmup,
            interval_steps=every,
            n_min_runs=least,
        )
        verdicts, decisions = arkor_verdicts(ours, sweep)
        tally.same(sweep, optuna_verdicts(reference, mode, sweep), verdicts)
        _once_each(decisions, "prune.percentile")

    example()
    tally.check_not_vacuous()


def test_successive_halving_decides_as_optuna() -> None:
    tally = Tally()

    @DIFFERENTIAL
    @given(
        sweeps(),
        MODES,
        st.sampled_from(["auto", 1, 1, 2, 3, 10]),
        st.integers(2, 4),
        st.integers(0, 2),
    )
    def example(
        sweep: Sweep,
        mode: Literal["min", "max"],
        min_resource: int | Literal["auto"],
        reduction_factor: int,
        rate: int,
    ) -> None:
        reference = optuna.pruners.SuccessiveHalvingPruner(
            min_resource=min_resource,
            reduction_factor=reduction_factor,
            min_early_stopping_rate=rate,
        )
        ours = aop.successive_halving(
            "eval_loss",
            mode=mode,
            min_resource=min_resource,
            reduction_factor=reduction_factor,
            min_early_stopping_rate=rate,
        )
        verdicts, decisions = arkor_verdicts(ours, sweep)
        tally.same(sweep, optuna_verdicts(reference, mode, sweep), verdicts)
        _once_each(decisions, "prune.successive_halving")

    example()
    tally.check_not_vacuous()
