"""arkor_rx.sse: property tests. Any chunking gives the same events; encode round-trips.

The decoder is also checked against a deliberately naive reference: the WHATWG
"interpret an event stream" steps written out character by character, with no
fast path, on whole input.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from arkor_rx.sse import ServerSentEvent, SSEDecoder, encode, encode_comment

PROPERTY = settings(max_examples=200, deadline=None)


def feed_in_chunks(stream: bytes, cuts: list[int]) -> tuple[list[ServerSentEvent], SSEDecoder]:
    dec = SSEDecoder()
    events: list[ServerSentEvent] = []
    start = 0
    for cut in sorted(cuts):
        events += dec.feed(stream[start:cut])
        start = cut
    events += dec.feed(stream[start:])
    events += dec.close()
    return events, dec


def reference(stream: bytes) -> tuple[list[ServerSentEvent], str, int | None]:
    """The spec's steps, literally: (events, last event ID, reconnection time)."""
    text = stream.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines: list[str] = []
    current = ""
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\r":
            lines.append(current)
            current = ""
            if text[i + 1 : i + 2] == "\n":
                i += 1
        elif char == "\n":
            lines.append(current)
            current = ""
        else:
            current += char
        i += 1
    # `current` is a last line without a line end: discarded at end of stream.

    events: list[ServerSentEvent] = []
    data = event_type = id_buffer = last_event_id = ""
    retry: int | None = None
    block_retry: int | None = None
    for line in lines:
        if line == "":
            last_event_id = id_buffer
            if data:
                data = data.removesuffix("\n")
                events.append(
                    ServerSentEvent(event_type or "message", data, id_buffer or None, block_retry)
                )
            data = event_type = ""
            block_retry = None
            continue
        if line.startswith(":"):
            continue
        if ":" in line:
            name, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
        else:
            name, value = line, ""
        if name == "event":
            event_type = value
        elif name == "data":
            data += value + "\n"
        elif name == "id":
            if "\0" not in value:
                id_buffer = value
        elif name == "retry" and re.fullmatch("[0-9]+", value):
            retry = block_retry = int(value)
    return events, last_event_id, retry


# Fragments that, glued at random, hit every rule and every corner of the fast path.
FRAGMENTS = [
    "data",
    "event",
    "id",
    "retry",
    ":",
    ": ",
    " ",
    "\n",
    "\r",
    "\r\n",
    "\n\n",
    "x",
    "7",
    "é",
    "世",
    "🎉",
    "\ufeff",
    "\x00",
    "\x85",
    "\u2028",
    "\x0b",
    "data: ",
    "id: ",
    "event: ",
    "retry: ",
    "id: 1\nevent: e\ndata: d\n\n",
    "id: 2\nevent: training.log\ndata: {}\n\n",
    "event: ping\ndata:\n\n",
]

streams = st.builds(
    lambda parts, junk: "".join(parts).encode() + junk,
    st.lists(st.sampled_from(FRAGMENTS), max_size=40),
    st.sampled_from([b"", b"\xff", b"\xe2\x82", b"\xef\xbb\xbf"]),
)


@PROPERTY
@given(stream=streams, data=st.data())
def test_decoder_matches_reference_under_any_chunking(stream: bytes, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12), label="cuts")
    events, dec = feed_in_chunks(stream, cuts)
    assert (events, dec.last_event_id, dec.retry) == reference(stream)


@PROPERTY
@given(stream=st.binary(max_size=200), data=st.data())
def test_arbitrary_bytes_match_reference_under_any_chunking(
    stream: bytes, data: st.DataObject
) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12), label="cuts")
    events, dec = feed_in_chunks(stream, cuts)
    assert (events, dec.last_event_id, dec.retry) == reference(stream)


# --- random events, encoded with random line ends and comments ---

line_text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"))
event_specs = st.lists(
    st.fixed_dictionaries(
        {
            "data": st.lists(line_text, min_size=1, max_size=3).map("\n".join),
            "event": st.none() | line_text,
            "id": st.none() | line_text.filter(lambda s: "\0" not in s),
            "retry": st.none() | st.integers(0, 10**6),
            "comment": st.none() | line_text,
        }
    ),
    max_size=8,
)


def write_frames(specs: list[dict[str, object]], eol: str) -> bytes:
    out: list[str] = []
    for spec in specs:
        lines: list[str] = []
        if spec["comment"] is not None:
            lines.append(f":{spec['comment']}")
        if spec["id"] is not None:
            lines.append(f"id: {spec['id']}")
        if spec["event"] is not None:
            lines.append(f"event: {spec['event']}")
        if spec["retry"] is not None:
            lines.append(f"retry: {spec['retry']}")
        lines += [f"data: {line}" for line in str(spec["data"]).split("\n")]
        out.append("".join(line + eol for line in lines) + eol)
    return "".join(out).encode()


def expected_events(specs: list[dict[str, object]]) -> tuple[list[ServerSentEvent], str]:
    events: list[ServerSentEvent] = []
    last_id = ""
    for spec in specs:
        if spec["id"] is not None:
            last_id = str(spec["id"])
        retry = spec["retry"]
        assert retry is None or isinstance(retry, int)
        events.append(
            ServerSentEvent(
                event=str(spec["event"] or "message"),
                data=str(spec["data"]),
                id=last_id or None,
                retry=retry,
            )
        )
    return events, last_id


@PROPERTY
@given(specs=event_specs, eol=st.sampled_from(["\n", "\r", "\r\n"]), data=st.data())
def test_any_split_gives_the_events_of_the_whole(
    specs: list[dict[str, object]], eol: str, data: st.DataObject
) -> None:
    stream = write_frames(specs, eol)
    expected, last_id = expected_events(specs)
    whole, dec = feed_in_chunks(stream, [])
    assert whole == expected
    assert dec.last_event_id == last_id
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20), label="cuts")
    split, dec = feed_in_chunks(stream, cuts)
    assert split == expected
    assert dec.last_event_id == last_id


@PROPERTY
@given(stream=st.binary(max_size=300))
def test_byte_by_byte_equals_whole(stream: bytes) -> None:
    whole, dec_whole = feed_in_chunks(stream, [])
    single, dec_single = feed_in_chunks(stream, list(range(len(stream))))
    assert single == whole
    assert (dec_single.last_event_id, dec_single.retry) == (
        dec_whole.last_event_id,
        dec_whole.retry,
    )


# --- encode() round-trips ---

any_text = st.text(st.characters(blacklist_categories=["Cs"]))
field_text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n\0"))


@PROPERTY
@given(
    items=st.lists(
        st.tuples(
            any_text,
            st.none() | field_text,
            st.none() | field_text,
            st.none() | st.integers(0, 10**9),
            st.none() | any_text,
        ),
        max_size=6,
    ),
    data=st.data(),
)
def test_encode_round_trips_through_the_decoder(
    items: list[tuple[str, str | None, str | None, int | None, str | None]],
    data: st.DataObject,
) -> None:
    stream = b""
    expected: list[ServerSentEvent] = []
    last_id = ""
    for payload, event, id_, retry, comment in items:
        if comment is not None:
            stream += encode_comment(comment)
        stream += encode(payload, event=event, id=id_, retry=retry)
        if id_ is not None:
            last_id = id_
        normalized = payload.replace("\r\n", "\n").replace("\r", "\n")
        expected.append(ServerSentEvent(event or "message", normalized, last_id or None, retry))
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=10), label="cuts")
    events, dec = feed_in_chunks(stream, cuts)
    assert events == expected
    assert dec.last_event_id == last_id
