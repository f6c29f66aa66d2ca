"""``sinks.Prometheus(port=...)``: live gauges and counters per run, for Prometheus and Grafana."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from arkor_rx.events import TrainingLog
from arkor_rx.jobs import TrainingJob
from arkor_rx.sinks._base import DEFAULT_BUFFER_SIZE, Outcome, Overflow, SinkItem
from arkor_rx.sinks._builtin import BuiltinSink, require
from arkor_rx.sinks._tracking import METRICS

__all__ = ["JOB_STATES", "Prometheus"]

JOB_STATES = ("running", "completed", "failed", "stopped", "cancelled", "error")
"""The states of the ``arkor_job_status`` state set."""

_LABELS = ("job_id", "name")


class Prometheus(BuiltinSink):
    """Expose every run's live metrics in the Prometheus text format.

    Metrics (labels ``job_id`` and ``name``): gauges ``arkor_training_loss``,
    ``arkor_training_eval_loss``, ``arkor_training_learning_rate``,
    ``arkor_training_epoch``, ``arkor_training_samples_per_second`` and
    ``arkor_training_step`` (the step of the last log event); counters
    ``arkor_events_total`` (also labelled by event ``type``) and
    ``arkor_stream_reconnects_total`` (moved at each reconnect, while the
    run is live, and exact at its end: never counted twice); and the state
    set ``arkor_job_status`` (``running``, ``completed``, ``failed``,
    ``stopped``, ``cancelled``, ``error``). A run's series stay after it
    ended, so a dashboard shows how it finished.

    With ``port=``, an HTTP endpoint serves ``/metrics`` from construction
    until ``await sink.aclose()`` (or the end of the process); it binds
    ``addr``, loopback by default (pass ``addr="0.0.0.0"`` for a Prometheus
    on another host). With ``registry=`` (a ``prometheus_client``
    ``CollectorRegistry``) and no port, the metrics go into your registry,
    served by your own app.

    Examples:
        >>> sink = Prometheus(port=0)            # 0: any free port
        >>> sink.url.startswith("http://127.0.0.1:")
        True
        >>> import asyncio; asyncio.run(sink.aclose())

    Args:
        port: serve ``/metrics`` on this port (0 picks a free one: see `port`).
        registry: the registry to fill (default: a new one, private to this sink).
        addr: the address the endpoint binds.
        overflow: ``"block"`` by default, so that the counters stay exact (an
            update is an in-memory call: this sink never keeps a producer
            waiting for long). ``"drop"`` keeps the gauges at the latest values
            written, and the counters then miss what was dropped.
        fail_on_error: fail ``wait()`` when updating fails.
        buffer_size: events buffered before the overflow policy applies.

    Raises:
        MissingExtraError: prometheus-client is missing (``pip install arkor_rx[prometheus]``).
        ConfigError: neither ``port`` nor ``registry`` was given.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        registry: Any = None,
        addr: str = "127.0.0.1",
        overflow: Overflow = "block",
        fail_on_error: bool = False,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
    ) -> None:
        super().__init__(overflow=overflow, fail_on_error=fail_on_error, buffer_size=buffer_size)
        if port is None and registry is None:
            from arkor_rx.errors import ConfigError

            raise ConfigError("Prometheus needs port= (to serve /metrics) or registry= (yours)")
        client = require("prometheus_client", "prometheus")
        self.registry = registry if registry is not None else client.CollectorRegistry()
        """The registry holding the metrics."""
        reg = self.registry
        self._gauges = {
            name: client.Gauge(
                f"arkor_training_{name}", f"The run's {name}.", _LABELS, registry=reg
            )
            for name in METRICS
        }
        self._step = client.Gauge(
            "arkor_training_step", "The step of the last log event.", _LABELS, registry=reg
        )
        self._events = client.Counter(
            "arkor_events", "Events received, by type.", (*_LABELS, "type"), registry=reg
        )
        self._reconnects = client.Counter(
            "arkor_stream_reconnects", "Reconnects of the event stream.", _LABELS, registry=reg
        )
        self._status = client.Enum(
            "arkor_job_status", "How the run stands.", _LABELS, states=JOB_STATES, registry=reg
        )
        self._labels: dict[str, tuple[str, str]] = {}
        self._series: dict[str, _Series] = {}
        self._server: Any = None
        self._thread: Any = None
        self.port: int | None = None
        """The port ``/metrics`` is served on (None without an endpoint)."""
        self.addr = addr
        """The address the endpoint binds."""
        if port is not None:
            self._server, self._thread = client.start_http_server(port, addr, registry=reg)
            self.port = int(self._server.server_port)

    @property
    def url(self) -> str | None:
        """The endpoint's URL, or None without one."""
        return None if self.port is None else f"http://{self.addr}:{self.port}/metrics"

    def __repr__(self) -> str:
        return f"Prometheus(port={self.port!r})"

    async def open(self, job: TrainingJob) -> None:
        """The run's series (labelled once, here), and its status ``running``."""
        labels = (job.id, job.name or job.id)
        self._labels[job.id] = labels
        self._series[job.id] = _Series(
            {name: gauge.labels(*labels) for name, gauge in self._gauges.items()},
            self._step.labels(*labels),
            {},
            self._reconnects.labels(*labels),
        )
        self._status.labels(*labels).state("running")

    async def write(self, events: Sequence[SinkItem]) -> None:
        """Set each run's gauges to its latest values in the batch; count the events."""
        runs: dict[str, list[SinkItem]] = {}
        for event in events:
            runs.setdefault(event.job_id, []).append(event)
        for job_id, items in runs.items():
            series = self._series.get(job_id)
            if series is not None:
                self._update(self._labels[job_id], series, items)

    def _update(self, labels: tuple[str, str], series: _Series, items: list[SinkItem]) -> None:
        for kind, count in Counter(map(_type_of, items)).items():
            counter = series.events.get(kind)
            if counter is None:
                counter = series.events[kind] = self._events.labels(*labels, kind)
            counter.inc(count)
        missing = list(METRICS)
        step: int | None = None
        for event in reversed(items):  # the latest value of each metric wins
            if not isinstance(event, TrainingLog):
                continue
            if step is None:
                step = event.step
                series.step.set(step)
            for name in tuple(missing):
                value = getattr(event, name)
                if value is not None:
                    series.gauges[name].set(value)
                    missing.remove(name)
            if not missing:
                break

    async def reconnected(self, job_id: str, reconnects: int) -> None:
        """The run's stream was opened again: its count is now ``reconnects``."""
        series = self._series.get(job_id)
        if series is not None:
            series.count_reconnects(reconnects)

    async def close(self, outcome: Outcome) -> None:
        """Set the status from the outcome; add the reconnects not counted yet."""
        series = self._series.pop(outcome.job_id or "", None)
        labels = self._labels.pop(outcome.job_id or "", None)
        if labels is None:
            return
        self._status.labels(*labels).state(outcome.kind)
        if series is not None:
            series.count_reconnects(outcome.reconnects)

    async def aclose(self) -> None:
        """Stop serving ``/metrics`` (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            await asyncio.to_thread(_stop, server, self._thread)


def _stop(server: Any, thread: Any) -> None:
    server.shutdown()
    server.server_close()
    thread.join()


_type_of = attrgetter("type")


class _Series:
    """One open run's labelled series (``labels()`` is looked up once per run, not per event)."""

    __slots__ = ("counted", "events", "gauges", "reconnects", "step")

    def __init__(
        self, gauges: dict[str, Any], step: Any, events: dict[str, Any], reconnects: Any
    ) -> None:
        self.gauges = gauges
        self.step = step
        self.events = events
        self.reconnects = reconnects
        self.counted = 0  # the reconnects of this run already added to the counter

    def count_reconnects(self, total: int) -> None:
        """Add what ``total`` (the run's count so far) has beyond what was counted."""
        if total > self.counted:
            self.reconnects.inc(total - self.counted)
            self.counted = total
