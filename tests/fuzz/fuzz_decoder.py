"""An atheris (libFuzzer) harness for the SSE decoder and the batch parse. Run by ``make fuzz``.

``python tests/fuzz/fuzz_decoder.py -atheris_runs=200000`` (after ``pip install atheris``).
Each input is cut into chunks at fuzzer-chosen points and fed three ways (whole,
chunked through ``feed``, chunked through ``feed_frames``); all must give the
same frames (``id_carried`` included), the same last event ID and retry, and
``parse_frames`` must equal ``parse_event`` frame by frame. The only error
allowed is the decoder's own ``SSELimitError`` (small limits make it reachable),
raised the same way by every path. Not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

import sys
from typing import Any

import atheris  # type: ignore[import-not-found, import-untyped, unused-ignore]

with atheris.instrument_imports():
    from arkor_rx.errors import SSELimitError
    from arkor_rx.events import parse_event, parse_frames
    from arkor_rx.sse import ServerSentEvent, SSEDecoder

LIMITS = {"max_line_size": 512, "max_event_size": 1024}


def _rows(events: list[ServerSentEvent]) -> list[tuple[Any, ...]]:
    return [(e.event, e.data, e.id, e.retry, e.id_carried) for e in events]


def _run(chunks: list[bytes], columns: bool) -> tuple[Any, ...]:
    decoder = SSEDecoder(**LIMITS)
    rows: list[tuple[Any, ...]] = []
    parsed: list[Any] = []
    try:
        for chunk in chunks:
            if columns:
                frames = decoder.feed_frames(chunk)
                rows += _rows(frames.events())
                parsed += parse_frames(frames)
            else:
                events = decoder.feed(chunk)
                rows += _rows(events)
                parsed += [parse_event(sse) for sse in events]
    except SSELimitError as exc:
        return ("limit", rows, str(exc).split(":")[0])
    decoder.close()
    return ("ok", rows, parsed, decoder.last_event_id, decoder.retry)


def test_one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    cuts = sorted(
        provider.ConsumeIntInRange(0, 512) for _ in range(provider.ConsumeIntInRange(0, 8))
    )
    body = provider.ConsumeBytes(provider.remaining_bytes())
    chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=False)]
    whole = _run([body], columns=False)
    by_feed = _run(chunks, columns=False)
    by_frames = _run(chunks, columns=True)
    if whole[0] == "ok" and by_feed[0] == "ok":
        assert whole == by_feed, (whole, by_feed)
    assert by_feed == by_frames, (by_feed, by_frames)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
