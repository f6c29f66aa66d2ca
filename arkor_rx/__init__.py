"""arkor_rx: follow Arkor fine-tuning runs as typed, reactive event streams.

The names here are the public surface (see the docs' API reference)::

    import arkor_rx as ax
    from arkor_rx import operators as aop

    trainer = ax.create_trainer(name=..., model=..., dataset=..., client=ax.ArkorClient.from_env())
    result = await trainer.wait()

The local backend lives in [`arkor_rx.server`][arkor_rx.server] and is not imported here, so
``import arkor_rx`` stays light.

Rule 1: the facade is lazy. ``import arkor_rx`` imports none of the modules
below; ``ax.ArkorClient`` imports ``arkor_rx.client`` the first time it is
named (PEP 562 ``__getattr__``), so a command or a script pays only for what it
uses. Type checkers and editors read the same names from the
``TYPE_CHECKING`` imports; a test checks that both lists and ``__all__`` agree.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arkor_rx import operators
    from arkor_rx._version import __version__
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

_EXPORTS: dict[str, str] = {
    "__version__": "arkor_rx._version",
    "ArkorClient": "arkor_rx.client",
    "ArkorError": "arkor_rx.errors",
    "attach": "arkor_rx.attach",
    "BlobDataset": "arkor_rx.jobs",
    "checkpoint_adapter": "arkor_rx.inference",
    "CheckpointAdapter": "arkor_rx.callbacks",
    "CheckpointContext": "arkor_rx.callbacks",
    "CheckpointSamples": "arkor_rx.samples",
    "CheckpointSaved": "arkor_rx.events",
    "CloudApiError": "arkor_rx.errors",
    "CompletedContext": "arkor_rx.callbacks",
    "ConfigError": "arkor_rx.errors",
    "create_sweep": "arkor_rx.sweep",
    "create_trainer": "arkor_rx.trainer",
    "DatasetError": "arkor_rx.errors",
    "EventStream": "arkor_rx.stream",
    "FailedContext": "arkor_rx.callbacks",
    "final_adapter": "arkor_rx.inference",
    "HuggingFaceDataset": "arkor_rx.jobs",
    "InferenceRequest": "arkor_rx.inference",
    "InferenceResponse": "arkor_rx.inference",
    "JobConfig": "arkor_rx.jobs",
    "LogContext": "arkor_rx.callbacks",
    "operators": "arkor_rx.operators",
    "parse_event": "arkor_rx.events",
    "PruneDecision": "arkor_rx.runs",
    "ReconnectExhaustedError": "arkor_rx.errors",
    "ReconnectPolicy": "arkor_rx.retry",
    "replay": "arkor_rx.replay",
    "ReplayError": "arkor_rx.replay",
    "Run": "arkor_rx.runs",
    "RunEvent": "arkor_rx.runs",
    "RunResult": "arkor_rx.runs",
    "Sample": "arkor_rx.samples",
    "SamplesAnswered": "arkor_rx.samples",
    "ServerSentEvent": "arkor_rx.sse",
    "SSEDecoder": "arkor_rx.sse",
    "SSEError": "arkor_rx.errors",
    "SSELimitError": "arkor_rx.errors",
    "StartedContext": "arkor_rx.callbacks",
    "StopDecision": "arkor_rx.stopping",
    "StopRule": "arkor_rx.stopping",
    "StreamIdleTimeout": "arkor_rx.errors",
    "StreamStats": "arkor_rx.stream",
    "Sweep": "arkor_rx.sweep",
    "SweepResult": "arkor_rx.runs",
    "SweepTable": "arkor_rx.runs",
    "Trainer": "arkor_rx.trainer",
    "TrainerCallbacks": "arkor_rx.callbacks",
    "TrainingCompleted": "arkor_rx.events",
    "TrainingEvent": "arkor_rx.events",
    "TrainingFailed": "arkor_rx.events",
    "TrainingJob": "arkor_rx.jobs",
    "TrainingLog": "arkor_rx.events",
    "TrainingResult": "arkor_rx.trainer",
    "TrainingStarted": "arkor_rx.events",
    "TransportError": "arkor_rx.errors",
    "UnknownEvent": "arkor_rx.events",
    "UpgradeRequiredError": "arkor_rx.errors",
    "AdapterTarget": "arkor_rx.deployments",
    "BaseModelTarget": "arkor_rx.deployments",
    "Deployment": "arkor_rx.deployments",
    "DeploymentKey": "arkor_rx.deployments",
    "DeploymentKeyCreated": "arkor_rx.deployments",
    "DeploymentTarget": "arkor_rx.deployments",
    "base_model_target": "arkor_rx.deployments",
    "checkpoint_target": "arkor_rx.deployments",
    "final_target": "arkor_rx.deployments",
}
"""Where each public name lives: the module imported the first time it is named."""

_SUBMODULES = frozenset({"operators"})
"""Public names that are submodules themselves."""
_SHADOWED = frozenset(n for n, m in _EXPORTS.items() if m == f"arkor_rx.{n}") - _SUBMODULES
"""Functions named like the module they live in (``replay``, ``attach``)."""


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'arkor_rx' has no attribute {name!r}")
    loaded = importlib.import_module(module)
    value = loaded if name in _SUBMODULES else getattr(loaded, name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Facade(types.ModuleType):
    """The package's module type: importing ``arkor_rx.replay`` keeps ``ax.replay`` the function.

    Python binds a submodule on its package when it is imported; for the two
    functions named like their module that would shadow the function, as the
    eager facade's ``from arkor_rx.replay import replay`` never let it.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Facade
