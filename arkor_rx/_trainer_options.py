"""The options every Trainer factory checks the same way (``create_trainer``, ``attach``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from arkor_rx.callbacks import TrainerCallbacks
from arkor_rx.client import ArkorClient
from arkor_rx.errors import ConfigError
from arkor_rx.retry import ReconnectPolicy
from arkor_rx.samples import CheckpointSamples
from arkor_rx.sinks._base import Sink, check_sinks
from arkor_rx.stopping import StopRule, flatten_rules

__all__ = ["check_reconnect", "trainer_options"]


def check_reconnect(reconnect: object) -> ReconnectPolicy | None:
    """``reconnect`` itself when it is None or a ``ReconnectPolicy``; else a ``ConfigError``."""
    if reconnect is not None and not isinstance(reconnect, ReconnectPolicy):
        raise ConfigError(f"reconnect must be a ReconnectPolicy, got {reconnect!r}")
    return reconnect


def trainer_options(
    *,
    client: ArkorClient | None,
    callbacks: TrainerCallbacks | Mapping[str, Any] | None,
    reconnect: ReconnectPolicy | None,
    early_stopping: StopRule | Sequence[StopRule] | None,
    sinks: Sequence[Sink] | None,
    samples: CheckpointSamples | None = None,
) -> dict[str, Any]:
    """The checked options of a Trainer, as ``create_trainer`` and ``attach`` both take them.

    The client comes last, from the environment when not given (the Trainer
    then owns it), once everything else passed.

    Raises:
        ConfigError: a bad policy, callbacks, rules, sinks or samples, or no
            client configuration in the environment.
    """
    check_reconnect(reconnect)
    if samples is not None and not isinstance(samples, CheckpointSamples):
        raise ConfigError(f"samples must be an ax.CheckpointSamples, got {samples!r}")
    options: dict[str, Any] = {
        "callbacks": TrainerCallbacks.coerce(callbacks),
        "reconnect": reconnect,
        "early_stopping": flatten_rules(early_stopping, where="early_stopping"),
        "sinks": check_sinks(sinks),
        "samples": samples,
        "owns_client": client is None,
    }
    options["client"] = ArkorClient.from_env() if client is None else client
    return options
