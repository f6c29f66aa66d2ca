"""Profile one arkor_rx workload with pyinstrument: where does the time go?

``bench/.venv/bin/python -m bench.profile {decode,parse,parse-batch,e2e,stream,
stream-batches,client,dispatch-sync,dispatch-async,pipeline} [--frames N]``
prints pyinstrument's call tree of one
run (after a warm-up run). pyinstrument is in ``bench/requirements.txt``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
from collections.abc import Callable
from typing import Any

from bench import workloads
from bench.server import spawn

__all__ = ["main"]


def _noop(_ctx: Any) -> None:
    return None


async def _anoop(_ctx: Any) -> None:
    return None


def _job(name: str, frames: int, base_url: str) -> Callable[[], Any]:
    if name == "decode":
        chunks = workloads.stream_chunks(frames)
        return lambda: workloads.arkor_decode(chunks)
    if name == "parse":
        chunks = workloads.stream_chunks(frames)
        return lambda: workloads.arkor_decode_parse(chunks)
    if name == "parse-batch":
        chunks = workloads.stream_chunks(frames)
        return lambda: workloads.arkor_decode_parse_batch(chunks)
    if name == "stream-batches":
        return lambda: asyncio.run(workloads.arkor_event_stream_batches(base_url, frames))
    if name == "e2e":
        return lambda: asyncio.run(workloads.arkor_events_stream(base_url, frames))
    if name == "stream":
        return lambda: asyncio.run(workloads.arkor_event_stream(base_url, frames))
    if name == "client":
        return lambda: asyncio.run(workloads.arkor_client_stream(base_url, frames))
    if name.startswith("dispatch"):
        events = workloads.typed_events(frames)
        callback = _anoop if name.endswith("async") else _noop

        async def dispatch() -> int:
            return await workloads.run_callbacks(events, callback)

        return lambda: asyncio.run(dispatch())
    if name == "pipeline":
        events = workloads.typed_events(frames)
        return lambda: workloads.pipeline_arkor(events)
    raise SystemExit(f"unknown workload {name!r}")


def main(argv: list[str] | None = None) -> None:
    """Run the named workload twice and print the profile of the second run."""
    # Imported by name: pyinstrument is a bench-only tool, unknown to the library's mypy config.
    profiler_class: Any = importlib.import_module("pyinstrument").Profiler
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("workload")
    parser.add_argument("--frames", type=int, default=200_000)
    args = parser.parse_args(argv)
    with spawn([args.frames]) as server:
        job = _job(args.workload, args.frames, server.base_url)
        job()
        profiler = profiler_class(interval=0.0005)
        profiler.start()
        job()
        profiler.stop()
    print(profiler.output_text(unicode=True, color=False))


if __name__ == "__main__":
    main()
