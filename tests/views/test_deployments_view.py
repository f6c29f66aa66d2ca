"""A run's deployments in the live views: the reducer, the terminal, the notebook, the log line."""

from __future__ import annotations

import html
import io
from typing import Any

import pytest
from rich.console import Console

from arkor_rx.dashboard import (
    DEPLOYMENT_LIMIT,
    DashboardState,
    JobSubmitted,
    LiveDashboard,
    RunDeployed,
    RunUndeployed,
    ViewState,
    deployment_line,
    describe,
    reduce,
    reduce_view,
    render,
    render_summary,
    render_view,
)
from arkor_rx.dashboard._html import render_html
from arkor_rx.deployments import Deployment
from arkor_rx.errors import ConfigError
from arkor_rx.notebook import LiveView
from arkor_rx.operators._deploy_best import shown
from tests.views.views_helpers import FixedClock, job, log, text_of

URL = "http://127.0.0.1:8765/v1/deployments/support-bot/v1"


def deployment(target: dict[str, Any], *, url: str = URL, enabled: bool = True) -> Deployment:
    return Deployment.model_validate(
        {
            "id": "dep-1",
            "slug": "support-bot",
            "target": target,
            "authMode": "fixed_api_key",
            "enabled": enabled,
            "url": url,
        }
    )


def checkpoint(job: str, step: int) -> dict[str, Any]:
    return {"kind": "adapter", "adapter": {"kind": "checkpoint", "jobId": job, "step": step}}


def final(job: str) -> dict[str, Any]:
    return {"kind": "adapter", "adapter": {"kind": "final", "jobId": job}}


# --- the action --------------------------------------------------------------------


def test_from_deployment_reads_the_run_the_target_and_the_url() -> None:
    at = RunDeployed.from_deployment(deployment(checkpoint("j1", 20)))
    assert at == RunDeployed("j1", "support-bot", URL, step=20, enabled=True)
    assert at.target == "checkpoint step 20"
    end = RunDeployed.from_deployment(deployment(final("j1"), enabled=False))
    assert (end.step, end.target, end.enabled) == (None, "final", False)


def test_from_deployment_keeps_no_user_info_query_or_fragment() -> None:
    odd = "https://user:secret@bot.example:8443/v1?sig=abc#frag"
    assert RunDeployed.from_deployment(deployment(final("j"), url=odd)).url == (
        "https://bot.example:8443/v1"
    )


def test_a_base_model_deployment_is_no_runs() -> None:
    base = deployment({"kind": "base_model", "baseModel": "m"})
    with pytest.raises(ConfigError, match=r"support-bot.*base model"):
        RunDeployed.from_deployment(base)


# --- the reducer --------------------------------------------------------------------


def test_one_line_per_slug_a_new_target_replaces_the_old_in_place() -> None:
    s0 = reduce(DashboardState(), JobSubmitted("j1"))
    s1 = reduce(s0, RunDeployed("j1", "a", "http://x/a/v1", step=10))
    s2 = reduce(s1, RunDeployed("j1", "b", "http://x/b/v1"))
    s3 = reduce(s2, RunDeployed("j1", "a", "http://x/a/v1", step=20))
    assert [(d.slug, d.target) for d in s3.deployments] == [
        ("a", "checkpoint step 20"),
        ("b", "final"),
    ]
    assert s0.deployments == ()  # the input is unchanged
    assert reduce(s3, RunDeployed("j1", "b", "http://x/b/v1")) is s3  # the same: no new state
    gone = reduce(s3, RunUndeployed("j1", "a"))
    assert [d.slug for d in gone.deployments] == ["b"]
    assert reduce(gone, RunUndeployed("j1", "a")) is gone


def test_deployments_are_bounded_the_oldest_goes_first() -> None:
    state = DashboardState(job_id="j1")
    for n in range(DEPLOYMENT_LIMIT + 3):
        state = reduce(state, RunDeployed("j1", f"s{n}", f"http://x/{n}/v1"))
    assert [d.slug for d in state.deployments] == [f"s{n}" for n in range(3, DEPLOYMENT_LIMIT + 3)]


def test_another_runs_deployment_is_ignored_and_starts_no_clock() -> None:
    state = reduce(DashboardState(), JobSubmitted("j1"))
    assert reduce(state, RunDeployed("j2", "a", "http://x/v1"), now=5.0).deployments == ()
    fresh = reduce(DashboardState(), RunDeployed("j1", "a", "http://x/v1"), now=5.0)
    assert fresh.started_at is None  # a deployment shown later does not start the run


def test_in_a_view_a_slug_serves_one_run() -> None:
    view = reduce_view(ViewState(), log(1, 1.0, job="j1"))
    view = reduce_view(view, log(1, 2.0, job="j2"))
    view = reduce_view(view, RunDeployed("j1", "bot", "http://x/v1", step=1))
    assert [d.slug for d in view.runs["j1"].deployments] == ["bot"]
    view = reduce_view(view, RunDeployed("j2", "bot", "http://x/v1", step=1))
    assert view.runs["j1"].deployments == ()
    assert [d.target for d in view.runs["j2"].deployments] == ["checkpoint step 1"]
    assert view.order == ("j1", "j2")


def test_deploy_best_actions_move_the_slug_between_runs() -> None:
    before = deployment(final("j1"))
    after = deployment(checkpoint("j2", 20))
    assert shown(before, after) == [
        RunUndeployed("j1", "support-bot"),
        RunDeployed("j2", "support-bot", URL, step=20),
    ]
    assert shown(None, after) == [RunDeployed("j2", "support-bot", URL, step=20)]
    same = deployment(checkpoint("j1", 5))
    assert shown(before, same) == [RunDeployed("j1", "support-bot", URL, step=5)]


# --- drawn: terminal, notebook, log line ----------------------------------------------


def state_with(*deployed: RunDeployed) -> DashboardState:
    state = reduce(DashboardState(), JobSubmitted("j1", name="bot", max_steps=40))
    for action in deployed:
        state = reduce(state, action)
    return state


LINE = f"deployed support-bot: checkpoint step 20 at {URL}"


def test_the_terminal_draws_one_line_per_deployment() -> None:
    state = state_with(
        RunDeployed("j1", "support-bot", URL, step=20),
        RunDeployed("j1", "demo", "http://x/demo/v1", enabled=False),
    )
    drawn = text_of(render(state, 0.0), width=140)
    assert LINE in drawn
    assert "deployed demo: final at http://x/demo/v1 (disabled)" in drawn
    assert drawn.count("deployed ") == 2
    assert LINE in text_of(render_summary(state, 0.0), width=140)
    assert "deployed" not in text_of(render(state_with(), 0.0), width=140)


def test_the_runs_table_names_the_run_of_each_deployment() -> None:
    view = reduce_view(ViewState(), JobSubmitted("j1", name="first"))
    view = reduce_view(view, JobSubmitted("j2", name="second"))
    view = reduce_view(view, RunDeployed("j2", "support-bot", URL, step=20))
    drawn = text_of(render_view(view, 0.0), width=160)
    assert f"[second] {LINE}" in drawn


def test_a_live_dashboard_shows_a_dispatched_deployment() -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=140, force_terminal=False, color_system=None)
    view = LiveDashboard(console, clock=FixedClock())
    view.dispatch(JobSubmitted("j1", name="bot", max_steps=40))
    state = view.dispatch(RunDeployed.from_deployment(deployment(checkpoint("j1", 20))))
    assert [d.slug for d in state.deployments] == ["support-bot"]
    assert LINE in buf.getvalue()  # not a terminal: the log line


def test_the_notebook_draws_one_escaped_line_per_deployment() -> None:
    hostile = RunDeployed("j1", "support-bot", "http://x/<img src=x>/v1", step=20)
    state = state_with(RunDeployed("j1", "a-bot", URL), hostile)
    page = render_html(ViewState(runs={"j1": state}, order=("j1",)), 0.0, plot=False)
    assert page.count('class="arkor-deployment"') == 2
    assert html.escape(f"deployed a-bot: final at {URL}") in page
    assert "<img" not in page
    assert "http://x/&lt;img src=x&gt;/v1" in page


async def test_a_notebook_live_view_draws_a_dispatched_deployment() -> None:
    frames: list[str] = []
    view = LiveView(display=lambda page, text: frames.append(page), plot=False, every=0.0)
    await view.open(job("j1", name="bot"))
    view.dispatch(RunDeployed.from_deployment(deployment(checkpoint("j1", 20))))
    await view.flush()
    assert [d.slug for d in view.state.deployments] == ["support-bot"]
    assert html.escape(LINE) in frames[-1]


def test_the_notebook_runs_table_lists_deployments_with_their_run() -> None:
    view = reduce_view(ViewState(), JobSubmitted("j1", name="first"))
    view = reduce_view(view, JobSubmitted("j2", name="second"))
    view = reduce_view(view, RunDeployed("j2", "support-bot", URL, step=20))
    page = render_html(view, 0.0, plot=False)
    assert html.escape(f"[second] {LINE}") in page


def test_describe_and_deployment_line_never_show_more_than_slug_target_url() -> None:
    before = state_with()
    action = RunDeployed("j1", "support-bot", URL, step=20)
    after = reduce(before, action)
    assert describe(before, action, after) == LINE == deployment_line(action)
    assert describe(after, action, after) is None  # nothing changed
    gone = reduce(after, RunUndeployed("j1", "support-bot"))
    undone = describe(after, RunUndeployed("j1", "support-bot"), gone)
    assert undone == "support-bot no longer serves this run"
