"""The text of ``docs/performance.md`` around the figures (filled in by :mod:`bench.report`)."""

from __future__ import annotations

__all__ = ["EXPLANATION", "WHERE"]

WHERE = """
What the layers do, from the bottom up:

- **Socket.** aiohttp hands over whatever the kernel buffered (a few hundred
  KB per read here); the floor rows show that reading the bytes is a small
  fraction of the total, for aiohttp and for httpx alike.
- **SSE decoding** (`arkor_rx.sse`) is pure Python: UTF-8 decode of the chunk,
  one `re.split` that cuts the common frames out as whole columns
  (`SSEDecoder.feed_frames`: types, data and ids as lists, no object per
  frame), and a line-by-line path only for the text between them (pings,
  comments, other spellings).
- **Typed validation** (`parse_batch`): every frame of the chunk goes through
  the validator its SSE name picks (the event class's own pydantic-core
  validator; for any other name a tagged union that pydantic-core resolves in
  Rust from the JSON `type`), mapped over the chunk from C, with no Python
  frame per event; a frame its validator refuses (an unknown type, a bad
  shape, not JSON) takes the per-frame `parse_event` path, so unknown types
  still become `UnknownEvent`. Building the pydantic models is the largest
  single cost, and the same work the typed peer does: one JSON array
  validated in a single call was measured too, and was no faster than one
  call per frame (the models, not the calls, cost the time).
- **EventStream** (`arkor_rx.stream`): one await per network read; the
  chunk's events are handed over as one batch (`EventStream.batches()`; a
  big read in pieces of 32 KiB, which keeps each piece's text, frames and
  events in the CPU cache: about a fifth faster on 256 KiB reads), and
  the resume id and the duplicate counts are read back from the batch's own
  iterator when asked, not written per event. De-duplication is done for the
  whole chunk with C-level set operations (`arkor_rx._dedupe`), and the
  high-water mark for increasing integer ids costs nothing unless a resumed
  connection replays. The `async for` row adds one async-generator step per
  event on top.
- **trainer.events()** adds the Observable delivery (`observe_async`): the
  batch's events go to `on_next` in a plain loop, one RxPY auto-detach
  observer hop per event.
- **Dispatch** (`arkor_rx.dispatch`): one dict lookup, one small context
  object and the callback call per event; an async callback adds its own
  coroutine, awaited inline (no Task, no Rx subscription per event), which
  is why it stays within a small factor of a bare `async for` loop, while
  `concat_map(defer(from_future(task)))` pays a Task and several Rx
  subscriptions per event.
- **Operators** (`arkor_rx.operators`): each stage is one RxPY observer hop,
  like RxPY's own `filter`/`map`/`scan`; ours also build a `MetricPoint`
  per stage and look the metric up by name.

Fairness notes: every peer reads the whole stream (aiohttp-sse-client, which
reconnects at the end of a stream, stops at the last frame);
requests + sseclient-py reads 64 KiB chunks (`SSEClient(response)` as
documented iterates 128-byte chunks and is much slower); aiohttp-sse-client
runs on a smaller stream to keep the bench short (per-frame rates compare
anyway). The fan-in streams are *live*: each sends half its frames, then
waits (up to 0.5 s) until every stream of the run is open, as jobs running
at the same time would, so a client that cannot hold them all open stalls.

`python -m bench.profile {decode,parse,parse-batch,stream,stream-batches,e2e,client,
dispatch-sync,dispatch-async,pipeline}` (with `bench/.venv/bin/python`) prints a
pyinstrument call tree of any of these workloads.
"""


EXPLANATION = """\
# Performance

This page is written by `make bench`; do not edit it by hand. Every figure
below comes from one run on the machine described at the end, with arkor_rx
and its peers measured one after the other in the same process. Each row is
the median of {repeats} timed runs (after one warm-up run), with the min and
max. Rates are per frame of input (pings included) or per event, so rows
measured at different sizes compare fairly. Ratios are same-run ratios
against the group's reference: for rates, how many times faster than the
reference (higher is better); for dispatch, how many times the reference's
cost per event (lower is better).

## Results

{table}

Groups: (a) in-memory decode of a {decode}-frame training stream (logs with
ids, 1% pings, a checkpoint every 500 frames) fed in 64 KiB chunks;
(b) decode plus typed, validated events (per frame with `parse_event`, per
chunk with `parse_batch`, and the typed peer's way: httpx-sse's decoder and
one pydantic `TypeAdapter.validate_json` per non-ping frame, with models of
the same fields and types, `bench/peer_models.py`); (c) end to end over
loopback from a static stream server in a separate process (reference: the
fastest untyped peer; the typed peer, httpx + httpx-sse + pydantic, is its own
reference; the EventStream and client-stream rows show the layers under
`trainer.events()`); (d) dispatch of a no-op user callback per event through
the Trainer's `Dispatcher` and `drain` (the loop `Trainer.wait()` runs), fed
from the same `asyncio.Queue` as the bare loop, and an operator pipeline
pushed through a `Subject`; (f) many live job streams followed at once by one
process through one client (`trainer.events()` each); CPU is the client's
and the server's CPU time over the wall time of the runs; (s) sinks: a
200,000-event recording replayed with `ax.replay` into
`aop.to_sink(TensorBoard, CSV, JSONL)` with default settings (every event
written, checked), against a plain loop feeding the same events to
tensorboardX's `SummaryWriter.add_scalar`, a `csv.writer` and the same JSONL
lines; and 1,000 paced runs (the bench server's `paced500-` jobs, one frame
every 500 ms) followed by `create_trainer(sinks=[TensorBoard, Prometheus,
JSONL])` sharing the three sinks: the process's CPU per event, and the time
from each log event's `on_log` callback to the return of each sink's `write`
holding it (p99 over all events, and over those that arrived once every run
was under way and before the first ended).

Timing on a shared 2-core machine is noisy: contestants of a group run
round-robin (one run of each in turn), so a burst of outside load slows them
alike and the same-run ratios stay fair, but absolute rates move from run to
run by 20% or more.

### Memory (e)

{memory}

## Targets

{targets}

## Where the time goes

Per frame of the 200k-frame stream, from this run's medians, arkor_rx's
`trainer.events()` layer by layer beside the typed peer (httpx + httpx-sse +
one pydantic `TypeAdapter.validate_json` per non-ping frame). The layers are
differences of rows measured separately, so a small or negative figure is
within the noise:

{layers}

{where}

## How to reproduce

```
{command}
```

`make bench` creates `bench/.venv` (the peers: `bench/requirements.txt`;
arkor_rx and its own dependencies come from the project's `.venv` through a
`.pth` file, so the library is measured exactly as installed), starts the
static stream server (`bench/server.py`) in a child process on a free
loopback port, and runs `python -m bench`. The whole run took {elapsed} s.
`python -m bench --quick` runs every workload at a tenth of the size.

## Machine

- platform: {platform}
- CPU: {cpu}
- Python: {python}
- versions: {versions}
"""
