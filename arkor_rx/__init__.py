"""arkor_rx: follow Arkor fine-tuning runs as typed, reactive event streams.

The names here are the public surface (see the docs' API reference)::

    import arkor_rx as ax
    from arkor_rx import operators as aop

    trainer = ax.create_trainer(name=..., model=..., dataset=..., client=ax.ArkorClient.from_env())
    result = await trainer.wait()

The local backend lives in [`arkor_rx.server`][arkor_rx.server] and is not imported here, so
``import arkor_rx`` stays light.
"""

from __future__ import annotations

from arkor_rx import operators
from arkor_rx.attach import attach
from arkor_rx.callbacks import (
    CheckpointAdapter,
    CheckpointContext,
    CompletedContext,
    FailedContext,
    LogContext,
    StartedContext,
    TrainerCallbacks,
)
from arkor_rx.client import ArkorClient
from arkor_rx.deployments import (
    AdapterTarget,
    BaseModelTarget,
    Deployment,
    DeploymentKey,
    DeploymentKeyCreated,
    DeploymentTarget,
    base_model_target,
    checkpoint_target,
    final_target,
)
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
from arkor_rx.inference import (
    InferenceRequest,
    InferenceResponse,
    checkpoint_adapter,
    final_adapter,
)
from arkor_rx.jobs import BlobDataset, HuggingFaceDataset, JobConfig, TrainingJob
from arkor_rx.protocol import __version__
from arkor_rx.replay import ReplayError, replay
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.runs import PruneDecision, Run, RunEvent, RunResult, SweepResult, SweepTable
from arkor_rx.samples import CheckpointSamples, Sample, SamplesAnswered
from arkor_rx.sse import ServerSentEvent, SSEDecoder
from arkor_rx.stopping import StopDecision, StopRule
from arkor_rx.stream import EventStream, StreamStats
from arkor_rx.sweep import Sweep, create_sweep
from arkor_rx.trainer import Trainer, TrainingResult, create_trainer

__all__ = [
    "AdapterTarget",
    "ArkorClient",
    "ArkorError",
    "BaseModelTarget",
    "BlobDataset",
    "CheckpointAdapter",
    "CheckpointContext",
    "CheckpointSamples",
    "CheckpointSaved",
    "CloudApiError",
    "CompletedContext",
    "ConfigError",
    "DatasetError",
    "Deployment",
    "DeploymentKey",
    "DeploymentKeyCreated",
    "DeploymentTarget",
    "EventStream",
    "FailedContext",
    "HuggingFaceDataset",
    "InferenceRequest",
    "InferenceResponse",
    "JobConfig",
    "LogContext",
    "PruneDecision",
    "ReconnectExhaustedError",
    "ReconnectPolicy",
    "ReplayError",
    "Run",
    "RunEvent",
    "RunResult",
    "SSEDecoder",
    "SSEError",
    "SSELimitError",
    "Sample",
    "SamplesAnswered",
    "ServerSentEvent",
    "StartedContext",
    "StopDecision",
    "StopRule",
    "StreamIdleTimeout",
    "StreamStats",
    "Sweep",
    "SweepResult",
    "SweepTable",
    "Trainer",
    "TrainerCallbacks",
    "TrainingCompleted",
    "TrainingEvent",
    "TrainingFailed",
    "TrainingJob",
    "TrainingLog",
    "TrainingResult",
    "TrainingStarted",
    "TransportError",
    "UnknownEvent",
    "UpgradeRequiredError",
    "__version__",
    "attach",
    "base_model_target",
    "checkpoint_adapter",
    "checkpoint_target",
    "create_sweep",
    "create_trainer",
    "final_adapter",
    "final_target",
    "operators",
    "parse_event",
    "replay",
]
