"""Sinks: take a run's events out of the process (TensorBoard, MLflow, W&B, Prometheus, ...).

A sink is an object with ``async open(job)``, ``async write(batch)`` and
``async close(outcome)`` (the [`Sink`][arkor_rx.sinks.Sink] protocol). The library runs each
sink from its own bounded queue in its own asyncio task (see
[`arkor_rx.sinks._runner`][arkor_rx.sinks._runner]): a failing sink never holds up the
stream, the callbacks or early stopping, and by default (overflow ``"block"``)
every event is written: a sink that falls behind makes a producer that can
wait (the Trainer, the CLI) wait for it, and lets a push source's queue grow.
Only ``Webhook`` notifications drop by default. Use sinks in
``create_trainer(..., sinks=[...])``, with ``aop.to_sink(sink)`` on any
Observable of events, or from the CLI (``--tensorboard DIR`` ...).

The built-in sinks import their libraries only when constructed, so
``import arkor_rx`` and ``import arkor_rx.sinks`` stay light; a missing
library fails the constructor with one line naming the ``pip install``.
"""

from __future__ import annotations

from arkor_rx.sinks._base import (
    DEFAULT_BUFFER_SIZE,
    Outcome,
    OutcomeKind,
    Overflow,
    RunErrors,
    Sink,
    SinkItem,
    SinkStats,
)
from arkor_rx.sinks._builtin import MissingExtraError, SinkWorkerError
from arkor_rx.sinks._csv import CSV
from arkor_rx.sinks._hub import SinkHub
from arkor_rx.sinks._jsonl import JSONL
from arkor_rx.sinks._mlflow import MLflow
from arkor_rx.sinks._prometheus import Prometheus
from arkor_rx.sinks._tensorboard import TensorBoard
from arkor_rx.sinks._wandb import WandB
from arkor_rx.sinks._webhook import NOTICES, Notice, Webhook, WebhookError

__all__ = [
    "CSV",
    "DEFAULT_BUFFER_SIZE",
    "JSONL",
    "NOTICES",
    "MLflow",
    "MissingExtraError",
    "Notice",
    "Outcome",
    "OutcomeKind",
    "Overflow",
    "Prometheus",
    "RunErrors",
    "Sink",
    "SinkHub",
    "SinkItem",
    "SinkStats",
    "SinkWorkerError",
    "TensorBoard",
    "WandB",
    "Webhook",
    "WebhookError",
]
