"""The web dashboard's pictures for the docs, from real runs (called by ``tools/pictures.py``).

A small sweep (the demo's grid and median pruner) and one run stopped by the
demo's rules train on a local backend with a
[`WebDashboard`][arkor_rx.dashboard.WebDashboard] as their sink; Debian's
Chromium, driven by Playwright, screenshots the runs table, a run page, the
compare page and the table at phone width in dark mode into ``docs/images/``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import arkor_rx as ax
from arkor_rx.cli._sweep_demo import SWEEP_GRID, SWEEP_PRUNER
from arkor_rx.cli.demo import DEMO_DATASET, DEMO_MODEL, DEMO_TICKET, demo_rules
from arkor_rx.dashboard import WebDashboard
from arkor_rx.operators import median_pruner
from arkor_rx.server import LocalServer, ServerConfig

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


async def _runs(client: ax.ArkorClient, view: WebDashboard) -> tuple[str, list[str]]:
    """Train the sweep and the stopped run into ``view``: the stopped run's job id, the sweep's."""
    sweep = ax.create_sweep(
        name="lr-sweep",
        model=DEMO_MODEL,
        dataset=DEMO_DATASET,
        max_steps=60,
        logging_steps=1,
        eval_steps=10,
        save_steps=30,
        grid=SWEEP_GRID,
        max_concurrent=2,
        pruner=median_pruner(**SWEEP_PRUNER),
        client=client,
        sinks=[view],
    )
    swept = [item.run.job_id or "" for item in (await sweep.wait()).runs]
    trainer = ax.create_trainer(
        name="triage-high-lr",
        model=DEMO_MODEL,
        dataset=DEMO_DATASET,
        max_steps=80,
        learning_rate=0.05,
        logging_steps=1,
        eval_steps=4,
        save_steps=4,
        early_stopping=demo_rules(),
        samples=ax.CheckpointSamples(prompts=[DEMO_TICKET], max_tokens=16),
        client=client,
        sinks=[view],
    )
    return (await trainer.wait()).job.id, swept


async def _shoot(browser: Any, url: str, path: Path, wait: str, **context: Any) -> None:
    page = await (await browser.new_context(**context)).new_page()
    await page.goto(url)
    await page.wait_for_selector(wait)
    await page.screenshot(path=str(path), full_page=True)
    await page.context.close()


async def web_pictures(out: Path, chromium: str) -> None:
    """Write ``web-runs.png``, ``web-run.png``, ``web-compare.png`` and ``web-phone.png``."""
    from playwright.async_api import async_playwright

    async with (
        LocalServer(ServerConfig(step_delay=0.0)) as server,
        ax.ArkorClient(server.url, server.token, "local", "demo") as client,
        WebDashboard(port=0, client=client) as view,
    ):
        stopped, swept = await _runs(client, view)
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium, args=ARGS)
            wide = {"viewport": {"width": 1280, "height": 720}}
            await _shoot(browser, view.url, out / "web-runs.png", "#runs tbody tr", **wide)
            await _shoot(
                browser,
                f"{view.url}#/run/{stopped}",
                out / "web-run.png",
                "#loss-chart canvas",
                **wide,
            )
            await _shoot(
                browser,
                f"{view.url}#/compare?ids={','.join(swept)}",
                out / "web-compare.png",
                "#compare-chart canvas",
                **wide,
            )
            phone = {"viewport": {"width": 390, "height": 760}, "color_scheme": "dark"}
            await _shoot(browser, view.url, out / "web-phone.png", "#runs tbody tr", **phone)
            await browser.close()


if __name__ == "__main__":
    import shutil

    asyncio.run(
        web_pictures(
            Path(__file__).resolve().parent.parent / "docs" / "images",
            shutil.which("chromium") or "/usr/bin/chromium",
        )
    )
