"""The columnar paths agree with the per-frame ones: ``feed_frames`` with ``feed``, ``parse_frames``
with ``parse_event``; and ``id_carried`` tells a frame's own id from one SSE carried over.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from arkor_rx.events import parse_batch, parse_event, parse_frames
from arkor_rx.sse import ServerSentEvent, SSEDecoder
from tests.test_sse_property import event_specs, streams, write_frames

PROPERTY = settings(max_examples=200, deadline=None)

Row = tuple[str, str, str | None, int | None, bool]


def rows(events: list[ServerSentEvent]) -> list[Row]:
    return [(e.event, e.data, e.id, e.retry, e.id_carried) for e in events]


def cut(stream: bytes, cuts: list[int]) -> list[bytes]:
    out, start = [], 0
    for point in sorted(cuts):
        out.append(stream[start:point])
        start = point
    out.append(stream[start:])
    return out


@PROPERTY
@given(stream=streams, data=st.data())
def test_feed_frames_gives_what_feed_gives_under_any_chunking(
    stream: bytes, data: st.DataObject
) -> None:
    chunks = cut(stream, data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    whole = SSEDecoder()
    expected = rows(whole.feed(stream))
    by_frames, by_objects = SSEDecoder(), SSEDecoder()
    got_frames: list[Row] = []
    got_objects: list[Row] = []
    for chunk in chunks:
        frames = by_frames.feed_frames(chunk)
        assert len(frames) == len(frames.type) == len(frames.data) == len(frames.id)
        got_frames += rows(frames.events())
        got_objects += rows(by_objects.feed(chunk))
    assert got_frames == got_objects == expected
    assert by_frames.last_event_id == by_objects.last_event_id == whole.last_event_id


@PROPERTY
@given(specs=event_specs, eol=st.sampled_from(["\n", "\r\n", "\r"]))
def test_id_carried_is_true_exactly_for_blocks_without_an_id_field(
    specs: list[dict[str, object]], eol: str
) -> None:
    events = SSEDecoder().feed(write_frames(specs, eol))
    assert [e.id_carried for e in events] == [spec["id"] is None for spec in specs]


def test_the_same_id_sent_again_is_not_carried() -> None:
    chunk = b"id: 5\ndata: a\n\nid: 5\ndata: a\n\ndata: b\n\nid:\ndata: c\n\n"
    events = SSEDecoder().feed(chunk)
    assert [(e.id, e.id_carried) for e in events] == [
        ("5", False),
        ("5", False),
        ("5", True),
        (None, False),  # an empty id field is the block's own: it resets the id
    ]
    assert events[0] == events[1] == ServerSentEvent(data="a", id="5")  # not compared


def test_an_id_with_nul_is_ignored_so_the_id_is_carried() -> None:
    events = SSEDecoder().feed(b"id: 1\ndata: a\n\nid: x\0y\ndata: b\n\n")
    assert [(e.id, e.id_carried) for e in events] == [("1", False), ("1", True)]


# --- parse_frames against parse_event -------------------------------------------

LOG = {"type": "training.log", "jobId": "j", "timestamp": "t", "step": 3, "loss": 0.5}
DATAS = [
    json.dumps(LOG),
    json.dumps({**LOG, "type": "checkpoint.saved", "artifacts": [{"p": 1}]}),
    json.dumps({"type": "training.completed", "metrics": {"loss": 1}}),
    json.dumps({"type": "training.failed", "error": "OOM", "step": 2}),
    json.dumps({"type": "training.started", "metadata": {"a": 1}}),
    json.dumps({"type": "something.new", "x": 1}),  # unknown: UnknownEvent
    json.dumps({k: v for k, v in LOG.items() if k != "type"}),  # no type: UnknownEvent
    json.dumps({**LOG, "step": "many"}),  # bad shape: None
    json.dumps({"type": "training.log"}),  # no step: None
    json.dumps([1, 2]),
    "1",
    "null",
    "not json",
    "",
    "{",
    '{"type": "training.log", "step": 1}{}',
]
TYPES = ["training.log", "checkpoint.saved", "message", "ping", "end", "other", "training.failed"]

frames_lists = st.lists(
    st.tuples(st.sampled_from(TYPES), st.sampled_from(DATAS), st.none() | st.sampled_from("abc")),
    max_size=30,
)


@PROPERTY
@given(frames=frames_lists)
def test_parse_frames_equals_parse_event_frame_by_frame(
    frames: list[tuple[str, str, str | None]],
) -> None:
    chunk = b"".join(
        (f"id: {i}\n" if i is not None else "").encode()
        + f"event: {t}\n".encode()
        + b"".join(f"data: {line}\n".encode() for line in d.split("\n"))
        + b"\n"
        for t, d, i in frames
    )
    decoder = SSEDecoder()
    columns = decoder.feed_frames(chunk)
    objects = SSEDecoder().feed(chunk)
    expected = [parse_event(sse) for sse in objects]
    got = parse_frames(columns)
    assert [type(e) for e in got] == [type(e) for e in expected]
    assert got == expected
    assert [e.event_id for e in got if e is not None] == [
        e.event_id for e in expected if e is not None
    ]
    batch = parse_batch(columns)
    assert batch.events == [e for e in expected if e is not None]
    assert batch.present == [e is not None for e in expected]
