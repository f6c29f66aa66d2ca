"""The web dashboard as a person uses it: headless Chromium (Debian's) driven by Playwright.

Each test waits on what the page shows (``wait_for_selector``,
``wait_for_function`` on the DOM), never on a clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops

from arkor_rx import operators as aop
from arkor_rx.dashboard import WebDashboard
from arkor_rx.events import TrainingLog
from arkor_rx.jobs import TrainingJob
from arkor_rx.operators import MetricPoint
from arkor_rx.runs import PruneDecision, Run, RunEvent
from arkor_rx.stopping import StopDecision
from tests.e2e.e2e_helpers import LABELS
from tests.web.conftest import HOLD, Served
from tests.web.test_contract import HOSTILE, finished_run
from tests.web.web_helpers import until


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.dialogs = []
    page.on("dialog", lambda d: page.dialogs.append(d.message))
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    assert page.errors == []
    await context.close()


@pytest.fixture
async def by_hand() -> AsyncIterator[WebDashboard]:
    """A dashboard with no backend, fed event by event by the test."""
    view = WebDashboard(port=0)
    await view.start()
    await view.open(TrainingJob(id="j1", name="by-hand", status="running", config={"maxSteps": 9}))
    try:
        yield view
    finally:
        await view.aclose()


def log(step: int, loss: float) -> TrainingLog:
    return TrainingLog(job_id="j1", step=step, loss=loss, learning_rate=1e-3, event_id=str(step))


async def test_the_table_fills_and_a_hostile_name_is_text(served: Served, page: Any) -> None:
    await finished_run(served, name=HOSTILE)
    running = served.trainer(name="held", max_steps=40)
    task = asyncio.create_task(running.wait())
    job_id = await running.start()
    await page.goto(served.view.url)
    await page.wait_for_selector("#runs tbody tr:nth-child(2)")
    names = await page.locator("#runs td.name").all_text_contents()
    assert names == [HOSTILE, "held"]
    assert await page.locator("#runs img").count() == 0
    assert page.dialogs == []
    assert "token" not in page.url  # taken out of the address bar at once
    await page.wait_for_function(
        f"document.querySelectorAll('#runs td.step')[1].textContent === '{HOLD - 1}/40'"
    )
    await served.backend.client.cancel_job(job_id)
    await task


async def test_a_new_point_appears_in_the_chart_after_its_event(
    by_hand: WebDashboard, page: Any
) -> None:
    for step in (1, 2, 3):
        by_hand.dispatch(log(step, 2.0 / step))
    await page.goto(by_hand.url + "#/run/j1")
    await page.wait_for_selector("#loss-chart[data-points='3']")
    by_hand.dispatch(log(4, 0.4))
    await page.wait_for_selector("#loss-chart[data-points='4'][data-last-step='4']")
    progress = await page.locator("#run-progress").text_content() or ""
    assert progress.startswith("step 4/9 · ")
    assert "loss 0.4000" in progress


async def test_the_smoothing_is_tensorboards(by_hand: WebDashboard, page: Any) -> None:
    values = [2.0, 1.5, float("nan"), 1.7, 0.9, 1.1, 0.4]
    points = [MetricPoint(i, v) for i, v in enumerate(values)]
    expected: list[float] = []
    reactivex.from_iterable(points).pipe(aop.tensorboard_smooth(0.6), ops.to_list()).subscribe(
        lambda out: expected.extend(p.value for p in out)
    )
    await page.goto(by_hand.url)
    await page.wait_for_selector("#runs tbody tr")
    # smoothedOf is what both charts draw; given a run's history (and then more of it,
    # as points arrive live), it must give aop.tensorboard_smooth's numbers.
    got = await page.evaluate(
        """(v) => {
            const h = { loss: v.slice(0, 3) };
            smoothedOf(h, 0.6);
            h.loss.push(...v.slice(3));
            return smoothedOf(h, 0.6).slice();
        }""",
        [None if v != v else v for v in values],
    )
    for mine, theirs in zip(got, expected, strict=True):
        if theirs != theirs:
            assert mine is None  # a non-finite loss is a gap, as TensorBoard skips it
        else:
            assert mine == pytest.approx(theirs, rel=1e-12)  # float64 both sides


async def test_a_reload_resumes_the_live_table(by_hand: WebDashboard, page: Any) -> None:
    by_hand.dispatch(log(1, 1.0))
    await page.goto(by_hand.url)
    await page.wait_for_selector("#runs td.step:text-is('1/9')")
    by_hand.dispatch(log(2, 0.5))
    await page.wait_for_selector("#runs td.step:text-is('2/9')")
    await page.reload()  # the token is in the tab's session now, not in the URL
    await page.wait_for_selector("#runs td.step:text-is('2/9')")
    by_hand.dispatch(log(3, 0.25))
    await page.wait_for_selector("#runs td.step:text-is('3/9')")
    assert await page.locator("#runs td.loss").text_content() == "0.2500"


async def test_cancel_cancels_once_after_a_confirmation(served: Served, page: Any) -> None:
    trainer = served.trainer(name="to-cancel", max_steps=40)
    task = asyncio.create_task(trainer.wait())
    job_id = await trainer.start()
    await until(served.view, lambda: job_id in served.view.feed.view.runs)
    await page.goto(f"{served.view.url}#/run/{job_id}")
    await page.click("#cancel")
    await page.wait_for_selector("#confirm[open]")
    await page.click("#confirm-yes")
    await page.wait_for_selector("#cancel:text-is('Cancel sent')")
    assert await page.locator("#cancel").is_disabled()
    await page.wait_for_selector("#run-state:text-is('cancelled')")
    assert (await task).job.status == "cancelled"
    cancels = [s for s in served.backend.transport.sent if s.url.endswith(f"{job_id}/cancel")]
    assert len(cancels) == 1


async def test_the_playground_answers(served: Served, page: Any) -> None:
    job_id = await finished_run(served)
    await page.goto(f"{served.view.url}#/run/{job_id}")
    await page.wait_for_selector("#ask-adapter option[value='final']", state="attached")
    await page.fill("#ask-prompt", "I was charged twice this month")
    await page.click("#ask-send")
    await page.wait_for_selector("#answer.done")
    assert await page.locator("#answer").text_content() in LABELS
    await page.select_option("#ask-adapter", "2")
    await page.click("#ask-send")
    await page.wait_for_selector("#answer.done")
    assert await page.locator("#answer").text_content() in LABELS


async def test_compare_marks_the_pruned_run(page: Any) -> None:
    async with WebDashboard(port=0) as view:
        runs = [Run(i, f"r{i}", {"learning_rate": lr}, f"lr-{lr}") for i, lr in enumerate((1, 2))]
        for run in runs:
            await view.open(TrainingJob(id=run.job_id or "", name=run.name, status="running"))
            for step in (1, 2, 3):
                view.dispatch(RunEvent(run, TrainingLog(job_id=run.job_id, step=step, loss=1.0)))
        decision = StopDecision("prune.median", "worse than the median at step 3", step=3)
        view.dispatch(PruneDecision(runs[1], decision))
        await page.goto(f"{view.url}#/compare")
        await page.wait_for_selector("#compare-legend li:nth-child(2)")
        pruned = page.locator("#compare-legend li.state-pruned")
        assert "worse than the median at step 3" in (await pruned.text_content() or "")
        assert await page.locator("#compare-chart canvas").count() == 1


async def test_without_the_token_the_page_says_how_to_open_it(
    by_hand: WebDashboard, page: Any
) -> None:
    await page.goto(f"http://127.0.0.1:{by_hand.port}/")
    await page.wait_for_selector("#no-token:visible")
    assert await page.locator("#runs tbody tr").count() == 0


async def test_a_phone_width_page_fits_and_the_theme_switches(
    by_hand: WebDashboard, browser: Any
) -> None:
    context = await browser.new_context(viewport={"width": 390, "height": 760})
    page = await context.new_page()
    by_hand.dispatch(log(1, 1.0))
    await page.goto(by_hand.url)
    await page.wait_for_selector("#runs td.name:visible")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # the table scrolls inside its frame; the page does not
    before = await page.evaluate("document.documentElement.dataset.theme")
    await page.click("#theme")
    after = await page.evaluate("document.documentElement.dataset.theme")
    assert {before, after} == {"light", "dark"}
    await context.close()


async def test_a_dropped_stream_resumes_with_last_event_id(
    by_hand: WebDashboard, page: Any
) -> None:
    by_hand.dispatch(log(1, 1.0))
    await page.goto(by_hand.url)
    await page.wait_for_selector("#runs td.step:text-is('1/9')")
    await page.wait_for_selector("#conn[data-state='live']")
    await page.evaluate("window.sameDocument = true")
    await by_hand.aclose()  # the server goes away: the stream drops
    await page.wait_for_selector("#conn[data-state='down']")
    by_hand.dispatch(log(2, 0.5))  # changes made while the page is away
    by_hand.dispatch(log(3, 0.25))
    await by_hand.start()  # same port, same token, same journal
    await page.wait_for_selector("#runs td.step:text-is('3/9')")
    assert await page.locator("#runs td.loss").text_content() == "0.2500"
    assert await page.evaluate("window.sameDocument === true")  # resumed, not reloaded
    assert await page.evaluate("window.arkorSnapshots") == 1  # by Last-Event-ID, no refetch
