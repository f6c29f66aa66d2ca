"""``sinks.Webhook(url, format=...)``: notifications to Slack, Discord or any JSON endpoint.

Rule 1: a notice is sent from the sink's own task (or its stall watchdog),
never from the stream's: a slow or failing endpoint delays this sink only.

Rule 2: delivery retries a 429, a 5xx or a transport error, at most
``max_attempts`` times, waiting ``min(0.5 s * 2^n, max_delay)`` or the
``Retry-After`` the endpoint asked for. A ``Retry-After`` longer than
``max_delay`` gives up instead of retrying early. A notice that cannot be
delivered is logged and counted (``sink.stats.errors``); it never fails the
run unless ``fail_on_error=True``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from arkor_rx.errors import ArkorError, ConfigError, TransportError
from arkor_rx.events import TrainingLog, TrainingStarted
from arkor_rx.jobs import TrainingJob
from arkor_rx.protocol import parse_retry_after
from arkor_rx.sinks._base import DEFAULT_BUFFER_SIZE, Outcome, Overflow, SinkItem
from arkor_rx.sinks._builtin import BuiltinSink
from arkor_rx.transport import AiohttpTransport, Transport

__all__ = ["NOTICES", "Notice", "Webhook", "WebhookError"]

logger = logging.getLogger("arkor_rx.sinks")

WebhookFormat = Literal["json", "slack", "discord"]

NOTICES = (
    "started",
    "completed",
    "failed",
    "stopped",
    "cancelled",
    "error",
    "non_finite",
    "stalled",
)
"""What a webhook can notify about (``on=``)."""

_DEFAULT_ON = ("started", "completed", "failed", "stopped", "error", "non_finite", "stalled")
_ICONS = {
    "started": "▶️",
    "completed": "✅",
    "failed": "❌",
    "stopped": "🛑",
    "cancelled": "⏹️",
    "error": "❌",
    "non_finite": "⚠️",
    "stalled": "⏸️",
}


class WebhookError(ArkorError):
    """A notice could not be delivered (a permanent status, or retries ran out)."""


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification, before it is shaped for its format."""

    kind: str
    """One of `NOTICES`."""
    job_id: str
    name: str
    text: str
    """The one-line message (what Slack and Discord show)."""
    step: int | None = None
    loss: float | None = None
    rule: str | None = None
    reason: str | None = None
    error: str | None = None

    def payload(self, fmt: WebhookFormat) -> dict[str, Any]:
        """The JSON body: ``{"text"}`` for Slack, ``{"content"}`` for Discord, else every field.

        Examples:
            >>> n = Notice("completed", "j1", "bot", "✅ bot (j1) completed", step=200)
            >>> n.payload("slack")
            {'text': '✅ bot (j1) completed'}
            >>> n.payload("json")
            {'event': 'completed', 'jobId': 'j1', 'name': 'bot', 'text': '✅ bot (j1) completed', 'step': 200}
        """  # noqa: E501
        if fmt == "slack":
            return {"text": slack_escape(self.text)}
        if fmt == "discord":
            # A job name holding "@everyone" is text, not a ping.
            return {"content": self.text, "allowed_mentions": {"parse": []}}
        body: dict[str, Any] = {
            "event": self.kind,
            "jobId": self.job_id,
            "name": self.name,
            "text": self.text,
        }
        for key, value in (
            ("step", self.step),
            ("loss", self.loss),
            ("rule", self.rule),
            ("reason", self.reason),
            ("error", self.error),
        ):
            if value is not None:
                body[key] = (
                    value if not isinstance(value, float) or math.isfinite(value) else str(value)
                )
        return body


def slack_escape(text: str) -> str:
    """Slack's three control characters escaped (``&`` ``<`` ``>``), so that a job name
    like ``<!channel>`` is shown, not acted on (Slack's "Escaping text" rules).

    Examples:
        >>> slack_escape("<!channel> & co")
        '&lt;!channel&gt; &amp; co'
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(slots=True)
class _Run:
    name: str
    last_seen: float
    step: int | None = None
    loss: float | None = None
    warned_non_finite: bool = False
    stalled: bool = False


class Webhook(BuiltinSink):
    """Post a notification when a run starts, ends, diverges or goes silent.

    ``on`` picks the notices: ``started`` (the ``training.started`` event),
    ``completed``, ``failed`` (with the error), ``stopped`` (with the rule
    and its reason), ``cancelled``, ``error`` (following the run failed
    here), ``non_finite`` (the first NaN or infinite loss of a run) and
    ``stalled`` (no event for ``stall_after`` seconds; once per silence).
    ``format="slack"`` posts ``{"text": ...}`` (an incoming webhook),
    ``"discord"`` ``{"content": ...}``, ``"json"`` every field
    (``event``, ``jobId``, ``name``, ``text``, ``step``, ``loss``, ``rule``,
    ``reason``, ``error``).

    Examples:
        >>> hook = Webhook("https://hooks.slack.com/services/T/B/X", format="slack",
        ...                on=("failed", "stopped", "completed"))
        >>> sorted(hook.on)
        ['completed', 'failed', 'stopped']

    Args:
        url: the endpoint (a Slack or Discord webhook URL, or yours).
        format: ``"json"``, ``"slack"`` or ``"discord"``.
        on: the notices to send (default: all but ``cancelled``).
        stall_after: seconds without an event before ``stalled`` (None: never).
        timeout: seconds for one delivery attempt.
        max_attempts: attempts per notice (the first included).
        max_delay: the longest wait between attempts; a longer ``Retry-After`` gives up.
        headers: extra request headers (an ``Authorization`` of your endpoint).
        transport: the HTTP transport (default: a new aiohttp one).
        clock: seconds, monotonic (inject one in tests).
        sleep: how to wait between attempts (inject one in tests).
        overflow: ``"drop"`` by default: a notification that cannot keep up is
            dropped (and counted), never the run's end, which says how it finished.
        fail_on_error: fail ``wait()`` when a notice could not be delivered.
        buffer_size: events buffered before the overflow policy applies.
    """

    def __init__(
        self,
        url: str,
        *,
        format: WebhookFormat = "json",
        on: Collection[str] = _DEFAULT_ON,
        stall_after: float | None = 600.0,
        timeout: float = 10.0,
        max_attempts: int = 4,
        max_delay: float = 30.0,
        headers: Mapping[str, str] | None = None,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        overflow: Overflow = "drop",
        fail_on_error: bool = False,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
    ) -> None:
        super().__init__(overflow=overflow, fail_on_error=fail_on_error, buffer_size=buffer_size)
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            # Not the whole URL: a webhook URL often is the secret (Slack, Discord).
            shown = url[:8] + "..." if isinstance(url, str) and len(url) > 8 else url
            raise ConfigError(f"Webhook url must be an http(s) URL, not {shown!r}")
        if format not in ("json", "slack", "discord"):
            raise ConfigError(f"Webhook format must be json, slack or discord, not {format!r}")
        if isinstance(on, str):
            on = (on,)
        unknown = sorted(set(on) - set(NOTICES))
        if unknown:
            raise ConfigError(f"Webhook on= has unknown notices {unknown}; choose from {NOTICES}")
        for label, value in (("timeout", timeout), ("max_delay", max_delay)):
            if not (isinstance(value, int | float) and value > 0):
                raise ConfigError(f"Webhook {label} must be a positive number, not {value!r}")
        if stall_after is not None and not stall_after > 0:
            raise ConfigError(f"Webhook stall_after must be positive or None, not {stall_after!r}")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ConfigError(f"Webhook max_attempts must be a positive int, not {max_attempts!r}")
        self.url = url
        """Where notices are posted (never logged: it is often a secret)."""
        self.format: WebhookFormat = format
        self.on = frozenset(on)
        """The notices sent."""
        self.stall_after = stall_after
        self.timeout = float(timeout)
        self.max_attempts = max_attempts
        self.max_delay = float(max_delay)
        self._headers = dict(headers or {})
        self._transport = transport
        self._own_transport = transport is None
        self._clock = clock
        self._sleep = sleep
        self._runs: dict[str, _Run] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self.sent: list[Notice] = []
        """The notices delivered so far (in order)."""

    def __repr__(self) -> str:
        return f"Webhook(format={self.format!r})"  # the URL often holds a secret

    # -------------------------------------------------------------- sink protocol

    async def open(self, job: TrainingJob) -> None:
        """Start watching the run for silence."""
        self._runs[job.id] = _Run(name=job.name or job.id, last_seen=self._clock())
        if self.stall_after is not None and self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().create_task(self._watch())

    async def write(self, events: Sequence[SinkItem]) -> None:
        """Notice ``started`` and the first non-finite loss; note each run is alive."""
        notices = []
        now = self._clock()
        for event in events:
            job_id = event.job_id
            run = self._runs.get(job_id)
            if run is None:
                continue
            run.last_seen = now
            run.stalled = False
            if isinstance(event, TrainingLog):
                run.step = event.step
                if event.loss is not None:
                    run.loss = event.loss
                    if not math.isfinite(event.loss) and not run.warned_non_finite:
                        run.warned_non_finite = True
                        notices.append(
                            self._notice(
                                "non_finite",
                                job_id,
                                run,
                                f"loss is {event.loss} at step {event.step}",
                                step=event.step,
                                loss=event.loss,
                            )
                        )
            elif isinstance(event, TrainingStarted):
                notices.append(self._notice("started", job_id, run, "started"))
        await self._deliver_all(notices)

    async def close(self, outcome: Outcome) -> None:
        """Notice how the run ended."""
        job_id = outcome.job_id or ""
        run = self._runs.pop(job_id, None)
        if run is None:
            return
        try:
            await self._deliver_all([self._ending(job_id, run, outcome)])
        finally:
            if not self._runs:
                await self._stop_watchdog()
                if self._own_transport and self._transport is not None:
                    transport, self._transport = self._transport, None
                    await transport.aclose()

    async def aclose(self) -> None:
        """Stop the watchdog and close the HTTP transport (idempotent)."""
        await self._stop_watchdog()
        if self._own_transport and self._transport is not None:
            transport, self._transport = self._transport, None
            await transport.aclose()

    async def check_stalls(self) -> list[Notice]:
        """Notice every run silent for ``stall_after`` seconds (the watchdog calls this).

        Returns:
            The ``stalled`` notices sent now.
        """
        if self.stall_after is None:
            return []
        now = self._clock()
        notices = []
        for job_id, run in list(self._runs.items()):
            silent = now - run.last_seen
            if not run.stalled and silent >= self.stall_after:
                run.stalled = True
                where = f" (last at step {run.step})" if run.step is not None else ""
                notices.append(
                    self._notice(
                        "stalled", job_id, run, f"no event for {silent:.0f} s{where}", step=run.step
                    )
                )
        return await self._deliver_all(notices)

    # ------------------------------------------------------------------- notices

    def _notice(self, kind: str, job_id: str, run: _Run, what: str, **extra: Any) -> Notice:
        text = f"{_ICONS[kind]} {run.name} ({job_id}) {what}"
        return Notice(kind, job_id, run.name, text, **extra)

    def _ending(self, job_id: str, run: _Run, outcome: Outcome) -> Notice:
        at = f" at step {run.step}" if run.step is not None else ""
        if outcome.kind == "completed":
            loss = f" (loss {run.loss:.4g})" if run.loss is not None else ""
            return self._notice(
                "completed", job_id, run, f"completed{at}{loss}", step=run.step, loss=run.loss
            )
        if outcome.kind == "stopped" and outcome.stop is not None:
            stop = outcome.stop
            return self._notice(
                "stopped",
                job_id,
                run,
                f"stopped by {stop.rule}{_at(stop.step) or at}: {stop.reason}",
                step=stop.step if stop.step is not None else run.step,
                rule=stop.rule,
                reason=stop.reason,
            )
        if outcome.kind == "failed":
            error = outcome.error or "unknown error"
            return self._notice(
                "failed", job_id, run, f"failed{at}: {error}", step=run.step, error=error
            )
        if outcome.kind == "error":
            error = outcome.error or "unknown error"
            return self._notice(
                "error",
                job_id,
                run,
                f"could not be followed{at}: {error}",
                step=run.step,
                error=error,
            )
        return self._notice(outcome.kind, job_id, run, f"{outcome.kind}{at}", step=run.step)

    # ------------------------------------------------------------------ delivery

    async def _deliver_all(self, notices: list[Notice]) -> list[Notice]:
        failure: WebhookError | None = None
        sent = []
        for notice in notices:
            if notice.kind not in self.on:
                continue
            try:
                await self._deliver(notice)
            except WebhookError as exc:
                failure = failure or exc
            else:
                sent.append(notice)
        if failure is not None:
            raise failure
        return sent

    async def _deliver(self, notice: Notice) -> None:
        if self._transport is None:
            # Only the status matters: an answer's body (endless, maybe) is never read.
            self._transport = AiohttpTransport(request_timeout=self.timeout, discard_bodies=True)
        body = notice.payload(self.format)
        headers = {"Content-Type": "application/json", **self._headers}
        problem = ""
        for attempt in range(self.max_attempts):
            delay = min(0.5 * 2**attempt, self.max_delay)
            try:
                response = await self._transport.request(
                    "POST", self.url, headers=headers, json=body, total_timeout=self.timeout
                )
            except TransportError as exc:
                problem = f"no answer ({type(exc).__name__})"
            else:
                status = response.status
                if 200 <= status < 300:
                    self.sent.append(notice)
                    return
                problem = f"status {status}"
                if status != 429 and status < 500:
                    break  # permanent: a retry would get the same answer
                asked = parse_retry_after(response.headers.get("Retry-After"))
                if asked is not None:
                    if asked > self.max_delay:
                        problem += f", Retry-After {asked:g} s is past max_delay"
                        break
                    delay = max(asked, 0.0)
            if attempt + 1 < self.max_attempts:
                await self._sleep(delay)
        raise WebhookError(
            f"webhook notice {notice.kind} of job {notice.job_id} not delivered: {problem}"
        )

    async def _watch(self) -> None:
        assert self.stall_after is not None
        tick = min(max(self.stall_after / 4, 0.05), 30.0)
        while True:
            await asyncio.sleep(tick)
            try:
                await self.check_stalls()
            except WebhookError as exc:
                self.stats.errors += 1
                self.stats.last_error = str(exc)
                logger.warning("sink Webhook: %s", exc)

    async def _stop_watchdog(self) -> None:
        task, self._watchdog = self._watchdog, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _at(step: int | None) -> str:
    return f" at step {step}" if step is not None else ""
