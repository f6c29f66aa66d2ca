"""arkor_rx: follow Arkor fine-tuning runs as typed, reactive event streams."""

from __future__ import annotations

from arkor_rx.errors import (
    ArkorError,
    CloudApiError,
    ConfigError,
    DatasetError,
    ReconnectExhaustedError,
    SSEError,
    SSELimitError,
    StreamIdleTimeout,
    TransportError,
    UpgradeRequiredError,
)
from arkor_rx.events import (
    CheckpointSaved,
    TrainingCompleted,
    TrainingEvent,
    TrainingFailed,
    TrainingLog,
    TrainingStarted,
    UnknownEvent,
    parse_event,
)
from arkor_rx.jobs import BlobDataset, HuggingFaceDataset, JobConfig, TrainingJob

__all__ = [
    "ArkorError",
    "BlobDataset",
    "CheckpointSaved",
    "CloudApiError",
    "ConfigError",
    "DatasetError",
    "HuggingFaceDataset",
    "JobConfig",
    "ReconnectExhaustedError",
    "SSEError",
    "SSELimitError",
    "StreamIdleTimeout",
    "TrainingCompleted",
    "TrainingEvent",
    "TrainingFailed",
    "TrainingJob",
    "TrainingLog",
    "TrainingStarted",
    "TransportError",
    "UnknownEvent",
    "UpgradeRequiredError",
    "parse_event",
]
