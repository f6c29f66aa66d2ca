"""The pruner benchmark (bench/sweep.py) runs at a tiny size and does all its work.

No timing here: timing lives in ``make bench``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from arkor_rx.events import TrainingCompleted, TrainingLog

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the bench package lives at the repo root, beside arkor_rx
    sys.path.insert(0, str(ROOT))

from bench import sweep  # noqa: E402


def test_the_scripted_sweep_has_every_report_and_completion() -> None:
    events = sweep.scripted_sweep(10, steps=5)
    logs = [e for e in events if isinstance(e.event, TrainingLog)]
    ends = [e for e in events if isinstance(e.event, TrainingCompleted)]
    assert len(logs) == 50
    assert sorted(e.run.index for e in ends) == list(range(10))
    assert events[:6] == [e for e in events if e.run.index == 0]  # the first fifth runs first


def test_a_pruned_run_sends_nothing_more_and_push_counts_decisions() -> None:
    make = sweep.PRUNERS["successive_halving"]
    events = sweep.scripted_sweep(20, steps=10)
    kept = sweep.without_pruned(events, make)
    decisions = sweep.push(kept, make)
    assert 0 < len(decisions) < 20
    for d in decisions:
        last = max(i for i, e in enumerate(kept) if e.run.index == d.run.index)
        assert kept[last].event == TrainingLog(
            job_id=d.run.job_id or "", step=d.decision.step or 0, eval_loss=d.decision.value
        )
    assert sweep.push(kept, None) == []


def test_the_group_runs_at_its_quick_size() -> None:
    rows = sweep.group_sweep(quick=True, repeats=1)
    names = [r.name for r in rows]
    assert names[0] == sweep.DECODE_ROW
    assert "median_pruner, 100 runs" in names
    assert "successive_halving, 10 runs" in names
    assert all(r.ok for r in rows), [r.error for r in rows]
