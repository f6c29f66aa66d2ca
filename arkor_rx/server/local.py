"""Run the local backend in-process: [`LocalServer`][arkor_rx.server.LocalServer] and
[`serve`][arkor_rx.server.serve]."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web
from aiohttp.log import access_logger

from arkor_rx.server.app import create_app
from arkor_rx.server.config import ServerConfig
from arkor_rx.server.connection import JsonErrorRunner

__all__ = ["LocalServer", "serve"]


class LocalServer:
    """The local backend, started and stopped inside the running event loop.

    Example::

        async with LocalServer(ServerConfig(step_delay=0.02)) as server:
            client = ArkorClient(base_url=server.url, token=server.token, ...)

        async with LocalServer(dataset_roots=["./data"], max_concurrent_jobs=2) as server:
            ...

    Args:
        config: the settings (default: loopback, a free port, in memory, a
            generated token).
        dataset_roots: folders ``file://`` datasets must lie under (``--dataset-root``);
            default: the current folder and the data dir.
        max_concurrent_jobs: jobs training at once (``--max-concurrent-jobs``); default:
            the number of CPUs.
        header_timeout: seconds to receive a request's headers (``--header-timeout``).
        body_timeout: seconds to receive a request's body (``--body-timeout``).
        **options: any other [`ServerConfig`][arkor_rx.server.ServerConfig] field, over ``config``.

    Attributes:
        config: the config in use, with its token set.
        token_generated: True when the token was generated here (show it to
            the user; never echo a token they gave).
    """

    def __init__(
        self,
        config: ServerConfig | None = None,
        *,
        dataset_roots: Sequence[str | Path] | None = None,
        max_concurrent_jobs: int | None = None,
        header_timeout: float | None = None,
        body_timeout: float | None = None,
        **options: Any,
    ) -> None:
        given = config if config is not None else ServerConfig()
        named = {
            "dataset_roots": None if dataset_roots is None else tuple(map(Path, dataset_roots)),
            "max_concurrent_jobs": max_concurrent_jobs,
            "header_timeout": header_timeout,
            "body_timeout": body_timeout,
        }
        options.update((k, v) for k, v in named.items() if v is not None)
        if options:
            given = dataclasses.replace(given, **options)
        self.token_generated = given.token is None
        self.config = given.with_token()
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    def __repr__(self) -> str:
        return f"<LocalServer url={self._url!r}>"

    @property
    def token(self) -> str:
        """The bearer token every request must carry."""
        assert self.config.token is not None
        return self.config.token

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8765``.

        Raises:
            RuntimeError: the server is not started.
        """
        if self._url is None:
            raise RuntimeError("LocalServer is not started")
        return self._url

    @property
    def app(self) -> web.Application:
        """The running aiohttp application (for its ``STATE_KEY``)."""
        if self._runner is None:
            raise RuntimeError("LocalServer is not started")
        return self._runner.app

    async def start(self) -> None:
        """Bind and start serving. Starting twice raises RuntimeError.

        Raises:
            OSError: the address or port cannot be bound.
        """
        if self._runner is not None:
            raise RuntimeError("LocalServer is already started")
        # access_log=None: the CLI prints what it wants; the server itself is silent.
        runner = JsonErrorRunner(
            create_app(self.config),
            header_timeout=self.config.header_timeout,
            access_log=access_logger if self.config.access_log else None,
            handle_signals=False,
            shutdown_timeout=5.0,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.config.host, self.config.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in str(host) else str(host)
        self._url = f"http://{shown}:{port}"

    async def stop(self) -> None:
        """Stop serving: end streams, stop running jobs, release everything.

        Jobs still training are ended ``failed`` (error "interrupted: the
        server stopped ..."). Calling it again, or before start, is harmless.
        """
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> LocalServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def serve(
    config: ServerConfig | None = None,
    *,
    ready: Callable[[LocalServer], None] | None = None,
    **options: Any,
) -> None:
    """Run the local backend until cancelled (Ctrl-C in the CLI).

    Prints nothing: ``ready`` is called once the server listens, with the
    [`LocalServer`][arkor_rx.server.LocalServer] (``.url``, ``.token``, ``.token_generated``), so
    the
    caller can show the address and a generated token.

    Example::

        def show(server: LocalServer) -> None:
            print(f"listening on {server.url}")
            if server.token_generated:
                print(f"token: {server.token}")

        asyncio.run(serve(ServerConfig(port=8765), ready=show))

    Args:
        config: the settings, as for [`LocalServer`][arkor_rx.server.LocalServer].
        ready: called once the server listens.
        **options: keyword options of [`LocalServer`][arkor_rx.server.LocalServer]
            (``dataset_roots``, ``max_concurrent_jobs``, ``header_timeout``,
            ``body_timeout`` ...); None keeps the config's value.

    Raises:
        OSError: the address or port cannot be bound.
    """
    async with LocalServer(config, **options) as server:
        if ready is not None:
            ready(server)
        await asyncio.Event().wait()
