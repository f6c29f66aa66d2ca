"""The local Arkor backend: an aiohttp.web server that really trains, on the CPU.

It speaks the wire protocol of ``/work/shared/PROTOCOL.md`` (the Arkor cloud
API), so the same client code works against it and against the cloud::

    from arkor_rx.server import LocalServer, ServerConfig

    async with LocalServer(ServerConfig(step_delay=0.02)) as server:
        ...  # server.url, server.token

Rule 1 (layering): this package imports only the wire modules of arkor_rx
(``sse``, ``events``, ``jobs``, ``errors``, ``protocol``), never the client.

Rule 2 (what trains): every accepted model name
([`SUPPORTED_MODELS`][arkor_rx.server.SUPPORTED_MODELS])
trains the same tiny numpy classifier with a low-rank adapter over the
dataset's assistant replies (`arkor_rx.server.training`). The knobs of
the job config act on it for real, within [`ServerLimits`][arkor_rx.server.ServerLimits].

Layout: ``app`` wires the aiohttp application; ``routes`` (jobs, inference)
and ``streaming`` (the event stream) are its handlers, over ``state`` (what
they share, the job queue); ``http_errors`` and ``connection`` shape every
error as JSON and cut slow clients; ``limits`` bounds a job; ``runner`` runs
one job in a worker thread over ``store``; ``training`` is the loop, over
``plan`` (the resolved config), ``model`` (features and the adapter) and
``optim`` (AdamW, SGD); ``datasets`` reads data under the dataset roots.

Rule 3 (cancel): the protocol has no ``training.cancelled`` event. A
cancelled job ends with ``training.failed`` whose ``error`` is
``"cancelled by user"``, and its status is ``cancelled``.
"""

from __future__ import annotations

from arkor_rx.server.app import STATE_KEY, ServerState, create_app
from arkor_rx.server.config import ServerConfig, generate_token
from arkor_rx.server.datasets import BUILTIN_DATASETS
from arkor_rx.server.faults import FaultConfig
from arkor_rx.server.limits import ServerLimits
from arkor_rx.server.local import LocalServer, serve
from arkor_rx.server.runner import CANCELLED_ERROR, SERVER_STOPPED_ERROR
from arkor_rx.server.training import SUPPORTED_MODELS

__all__ = [
    "BUILTIN_DATASETS",
    "CANCELLED_ERROR",
    "SERVER_STOPPED_ERROR",
    "STATE_KEY",
    "SUPPORTED_MODELS",
    "FaultConfig",
    "LocalServer",
    "ServerConfig",
    "ServerLimits",
    "ServerState",
    "create_app",
    "generate_token",
    "serve",
]
