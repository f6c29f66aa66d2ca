"""Sinks: take a run's events out of the process (TensorBoard, MLflow, W&B, Prometheus, ...).

The built-in sinks import their libraries only when constructed, so
``import arkor_rx`` and ``import arkor_rx.sinks`` stay light.
"""

from __future__ import annotations

from arkor_rx.sinks._base import (
    DEFAULT_BUFFER_SIZE,
    Outcome,
    OutcomeKind,
    Overflow,
    Sink,
    SinkItem,
    SinkStats,
)
from arkor_rx.sinks._runner import SinkHub

__all__ = [
    "DEFAULT_BUFFER_SIZE",
    "Outcome",
    "OutcomeKind",
    "Overflow",
    "Sink",
    "SinkHub",
    "SinkItem",
    "SinkStats",
]
