"""``WebDashboard``: runs live in the browser, as a sink.

Rule 1: a [`Sink`][arkor_rx.sinks.Sink] whose ``write`` only runs the
reducer (`arkor_rx.dashboard.web._feed`); pages are served from the same
event loop by aiohttp and sent only what changed.

Rule 2: it serves from the first ``open`` (or ``await start()``) until
``await aclose()``: like the Prometheus sink, it stays up after the runs end
so the page can still be read.

Rule 3: it binds 127.0.0.1 unless told otherwise, and then logs a warning.
The URL it prints holds the launch token; nothing else does (no access log:
an ``EventSource`` URL carries the token).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from aiohttp import web

from arkor_rx.dashboard._actions import RunOpened
from arkor_rx.dashboard._live import outcome_actions
from arkor_rx.dashboard._runs import ViewAction
from arkor_rx.dashboard.web._app import build_app
from arkor_rx.dashboard.web._feed import WebFeed
from arkor_rx.dashboard.web._redact import Scrub
from arkor_rx.dashboard.web._security import new_token
from arkor_rx.jobs import TrainingJob
from arkor_rx.sinks._base import Outcome, SinkItem

if TYPE_CHECKING:
    from arkor_rx.client import ArkorClient

__all__ = ["DEFAULT_PORT", "WebDashboard", "exposed_warning"]

logger = logging.getLogger("arkor_rx.dashboard.web")

DEFAULT_PORT = 8766
"""The dashboard's port (the local backend's is 8765)."""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposed_warning(host: str) -> str | None:
    """The warning for a bind address other than loopback, or None.

    Examples:
        >>> exposed_warning("127.0.0.1") is None
        True
        >>> exposed_warning("0.0.0.0").startswith("warning: the dashboard listens on 0.0.0.0")
        True
    """
    if _loopback(host):
        return None
    return (
        f"warning: the dashboard listens on {host}: anyone who can reach it and has its URL "
        "can see and cancel runs; prefer 127.0.0.1 and an SSH tunnel"
    )


class WebDashboard:
    """A web page with every run it is given, live: a runs table, a page per run, compare.

    A [`Sink`][arkor_rx.sinks.Sink]: pass it in ``sinks=[...]``, to
    ``aop.to_sink``, or feed it with [`dispatch`][arkor_rx.dashboard.WebDashboard.dispatch]
    (a sweep's ``progress()`` values, or any view action).

    Example:
        ```py
        view = WebDashboard(port=8766, client=client)
        trainer = ax.create_trainer(..., sinks=[view], client=client)
        await view.start()
        print(view.url)          # http://127.0.0.1:8766/?token=...
        await trainer.wait()
        await view.aclose()
        ```

    Args:
        host: the address to bind; anything but loopback logs a warning.
        port: the port (0: any free one; read ``url`` after ``start()``).
        client: the backend the page's cancel and playground use (None: the
            page shows runs only). Its bearer token never reaches the browser:
            it is masked in everything shown, even when a server echoes it back.
        secrets: more strings masked in everything shown (``***``), such as the
            bearer token of a client the runs use but the page is not given.
            A URL's query and userinfo (a presigned ``?sig=``) are always
            removed.
        clock: the time source for start times and ETAs.
        warn: log the warning for a host other than loopback (the CLI prints
            it itself instead).
    """

    overflow = "block"
    """A view must not lose events; ``write`` only runs the reducer."""
    buffer_size = 4096

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        client: ArkorClient | None = None,
        clock: Callable[[], float] = time.time,
        warn: bool = True,
        secrets: Sequence[str] = (),
    ) -> None:
        self.host = host
        self.port = port
        self.client = client
        hidden = [*secrets]
        if client is not None:
            hidden.append(client._token.get_secret_value())  # to mask, never to show
        self.feed = WebFeed(clock=clock, scrub=Scrub(hidden))
        self._token = new_token()
        self._runner: web.AppRunner | None = None
        self._warn = warn
        self.history_source: Callable[[str], Awaitable[None]] | None = None
        """Reads a run's whole history into the page the first time one asks for it
        (``GET /api/runs/{id}``); set by ``arkor-rx dashboard``'s follower. None: every
        run's history is already here."""

    def __repr__(self) -> str:
        return f"WebDashboard(host={self.host!r}, port={self.port!r})"  # never the token

    @property
    def url(self) -> str:
        """The page's address with the launch token (``?token=``): open it in a browser."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if host in ("0.0.0.0", "[::]"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}/?token={self._token}"

    @property
    def token(self) -> str:
        """The launch token (for scripts that call the API themselves)."""
        return self._token

    @property
    def serving(self) -> bool:
        """True between ``start()`` and ``aclose()``."""
        return self._runner is not None

    async def start(self) -> str:
        """Start serving (once; later calls do nothing) and return ``url``.

        Raises:
            OSError: the address cannot be bound (say, the port is taken).
        """
        if self._runner is not None:
            return self.url
        self.feed.closed = False  # served again after an aclose(): pages may stream
        warning = exposed_warning(self.host)
        if warning is not None and self._warn:
            logger.warning("%s", warning)
        app = build_app(
            self.feed, self.client, self._token, self.host, lambda: self.port, self._history
        )
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        if self.port == 0:
            self.port = int(runner.addresses[0][1])
        return self.url

    async def _history(self, key: str) -> None:
        if self.history_source is not None:
            await self.history_source(key)

    async def aclose(self) -> None:
        """Stop serving (open pages see their stream end). Safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            self.feed.forget()
            await runner.cleanup()

    async def __aenter__(self) -> WebDashboard:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def dispatch(self, action: ViewAction, key: str | None = None) -> None:
        """Apply one action (an event, a sweep's ``RunEvent`` or ``PruneDecision``, ...)."""
        self.feed.push(action, key)

    # ----------------------------------------------------------------- the Sink protocol

    async def open(self, job: TrainingJob) -> None:
        """A run begins: start serving if not yet, and show the run."""
        await self.start()
        self.feed.push(RunOpened(job), job.id)

    async def write(self, events: Sequence[SinkItem]) -> None:
        """Apply a batch of one run's items."""
        for item in events:
            self.feed.push(item)

    async def close(self, outcome: Outcome) -> None:
        """The run ended: show how (the page stays up until ``aclose()``)."""
        if outcome.job_id is None:
            return
        job = outcome.job
        if outcome.kind == "failed" and job is not None and job.status == "cancelled":
            # The backend ends a cancelled job's stream with training.failed; its status says
            # what happened (the table's status is the backend's job status).
            outcome = replace(outcome, kind="cancelled")
        for action in outcome_actions(outcome):
            self.feed.push(action, outcome.job_id)
