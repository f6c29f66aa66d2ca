"""Black-box acceptance tests of ``arkor_rx.sse`` against the WHATWG event-stream rules."""

from __future__ import annotations

import itertools

import pytest

from arkor_rx.sse import ServerSentEvent, SSEDecoder, encode


def decode(*chunks: bytes) -> tuple[list[ServerSentEvent], SSEDecoder]:
    dec = SSEDecoder()
    out: list[ServerSentEvent] = []
    for chunk in chunks:
        out.extend(dec.feed(chunk))
    tail = dec.close()
    assert not tail, "close() must not dispatch a trailing incomplete event"
    return out, dec


def datas(events: list[ServerSentEvent]) -> list[str]:
    return [e.data for e in events]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_each_line_ending_ends_a_line(eol: bytes) -> None:
    raw = b"event: e" + eol + b"data: a" + eol + b"data: b" + eol + eol
    events, _ = decode(raw)
    assert [(e.event, e.data) for e in events] == [("e", "a\nb")]


def test_mixed_line_endings() -> None:
    events, _ = decode(b"data: 1\r\n\r\ndata: 2\r\rdata: 3\n\n")
    assert datas(events) == ["1", "2", "3"]


def test_cr_then_lf_across_chunks_is_one_line_ending() -> None:
    events, _ = decode(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n")
    assert datas(events) == ["a\nb"]


def test_leading_bom_is_stripped() -> None:
    events, _ = decode(b"\xef\xbb\xbfdata: x\n\n")
    assert datas(events) == ["x"]


def test_leading_bom_split_across_chunks_is_stripped() -> None:
    events, _ = decode(b"\xef", b"\xbb", b"\xbfdata: x\n\n")
    assert datas(events) == ["x"]


def test_only_one_bom_is_stripped() -> None:
    # The second BOM becomes part of the field name "\ufeffdata", which is ignored.
    events, _ = decode(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: y\n\n")
    assert datas(events) == ["y"]


def test_bom_later_in_stream_is_not_stripped() -> None:
    events, _ = decode(b"data: a\n\n\xef\xbb\xbfdata: b\n\ndata: c\n\n")
    assert datas(events) == ["a", "c"]


def test_comments_are_ignored() -> None:
    events, _ = decode(b": hello\n:\ndata: x\n: mid\n\n: only comment\n\n")
    assert datas(events) == ["x"]


def test_field_without_colon_has_empty_value() -> None:
    # "data" alone appends an empty line: the event is dispatched with data "".
    events, _ = decode(b"data\n\n")
    assert [(e.event, e.data) for e in events] == [("message", "")]


def test_event_without_colon_resets_to_message() -> None:
    events, _ = decode(b"event\ndata: x\n\n")
    assert [(e.event, e.data) for e in events] == [("message", "x")]


def test_exactly_one_leading_space_is_stripped() -> None:
    events, _ = decode(b"data:x\n\ndata: x\n\ndata:  x\n\ndata:\tx\n\n")
    assert datas(events) == ["x", "x", " x", "\tx"]


def test_value_may_contain_colons() -> None:
    events, _ = decode(b'data: {"a": 1}\n\n')
    assert datas(events) == ['{"a": 1}']


def test_multi_line_data_joined_with_lf_and_trailing_lf_removed() -> None:
    events, _ = decode(b"data: a\ndata:\ndata: b\n\n")
    assert datas(events) == ["a\n\nb"]


def test_empty_data_line_alone_dispatches_empty_string() -> None:
    events, _ = decode(b"data:\n\n")
    assert datas(events) == [""]


def test_no_data_no_dispatch() -> None:
    events, dec = decode(b"event: foo\n\nretry: 100\n\n")
    assert events == []
    assert dec.retry == 100


def test_event_type_resets_after_dispatch() -> None:
    events, _ = decode(b"event: foo\ndata: 1\n\ndata: 2\n\n")
    assert [e.event for e in events] == ["foo", "message"]


def test_event_type_not_carried_over_from_undispatched_block() -> None:
    # A block with no data resets the event type buffer too.
    events, _ = decode(b"event: foo\n\ndata: 2\n\n")
    assert [e.event for e in events] == ["message"]


def test_unknown_and_case_mismatched_fields_are_ignored() -> None:
    events, _ = decode(b"foo: bar\nData: no\ndata : no\ndata: yes\n\n")
    assert datas(events) == ["yes"]


def test_id_sets_event_id_and_last_event_id() -> None:
    events, dec = decode(b"id: 7\ndata: x\n\n")
    assert events[0].id == "7"
    assert dec.last_event_id == "7"


def test_last_event_id_persists_across_events() -> None:
    _, dec = decode(b"id: 7\ndata: x\n\ndata: y\n\n")
    assert dec.last_event_id == "7"


def test_id_containing_nul_is_ignored() -> None:
    events, dec = decode(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n")
    assert dec.last_event_id == "1"
    assert events[1].id != "2\x003"


def test_empty_id_resets_last_event_id() -> None:
    events, dec = decode(b"id: 1\ndata: a\n\nid\ndata: b\n\n")
    assert dec.last_event_id == ""
    assert events[1].id in ("", None)


def test_empty_id_with_colon_resets_last_event_id() -> None:
    _, dec = decode(b"id: 1\ndata: a\n\nid:\ndata: b\n\n")
    assert dec.last_event_id == ""


def test_id_only_frame_updates_last_event_id_without_dispatch() -> None:
    events, dec = decode(b"id: 1\ndata: a\n\nid: 9\n\n")
    assert datas(events) == ["a"]
    assert dec.last_event_id == "9"


def test_initial_state() -> None:
    dec = SSEDecoder()
    assert dec.last_event_id == ""
    assert dec.retry is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"retry: 1500", 1500),
        (b"retry:0", 0),
        (b"retry: 15a", None),
        (b"retry: -1", None),
        (b"retry: 1.5", None),
        (b"retry: +5", None),
        (b"retry:  5", None),  # the second space is part of the value: not all digits
        (b"retry: \xd9\xa3", None),  # Arabic-Indic digit three: not an ASCII digit
    ],
)
def test_retry_accepts_ascii_digits_only(line: bytes, expected: int | None) -> None:
    _, dec = decode(line + b"\n\n")
    assert dec.retry == expected


def test_invalid_retry_keeps_previous_value() -> None:
    _, dec = decode(b"retry: 300\n\nretry: x\n\n")
    assert dec.retry == 300


def test_trailing_incomplete_event_is_dropped_at_close() -> None:
    events, _ = decode(b"data: a\n\ndata: b\n")
    assert datas(events) == ["a"]


def test_unterminated_last_line_is_dropped_at_close() -> None:
    events, _ = decode(b"data: a\n\ndata: b")
    assert datas(events) == ["a"]


def test_events_are_returned_as_soon_as_complete() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\n") == []
    assert datas(dec.feed(b"\n")) == ["a"]
    dec.close()


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    events, _ = decode(b"data: a\xffb\n\n")
    assert datas(events) == ["a\ufffdb"]


def test_multibyte_utf8_split_across_chunks() -> None:
    raw = "data: héllo €\n\n".encode()
    events, _ = decode(raw[:8], raw[8:13], raw[13:])
    assert datas(events) == ["héllo €"]


SAMPLE = (
    b"\xef\xbb\xbf: comment\r\n"
    b"retry: 250\r\n"
    b'id: 1\r\nevent: training.log\r\ndata: {"a": "\xc3\xa9"}\r\n\r\n'
    b"data: x\rdata\r\r"
    b"id: \xe2\x82\xac2\ndata:  two\n\n"
    b"id: 3\n\n"
    b"event: end\ndata: bye\n\n"
    b"data: trailing"
)


def _summary(events: list[ServerSentEvent], dec: SSEDecoder) -> object:
    return ([(e.event, e.data, e.id, e.retry) for e in events], dec.last_event_id, dec.retry)


def test_sample_stream_decodes_as_expected() -> None:
    events, dec = decode(SAMPLE)
    assert [(e.event, e.data) for e in events] == [
        ("training.log", '{"a": "é"}'),
        ("message", "x\n"),
        ("message", " two"),
        ("end", "bye"),
    ]
    assert dec.last_event_id == "3"
    assert dec.retry == 250


def test_any_two_or_three_way_split_gives_same_events() -> None:
    expected = _summary(*decode(SAMPLE))
    n = len(SAMPLE)
    for i in range(n + 1):
        assert _summary(*decode(SAMPLE[:i], SAMPLE[i:])) == expected, i
    for i, j in itertools.combinations(range(0, n + 1, 3), 2):
        assert _summary(*decode(SAMPLE[:i], SAMPLE[i:j], SAMPLE[j:])) == expected, (i, j)


def test_byte_by_byte_gives_same_events() -> None:
    expected = _summary(*decode(SAMPLE))
    assert _summary(*decode(*[SAMPLE[i : i + 1] for i in range(len(SAMPLE))])) == expected


def test_encode_round_trips() -> None:
    raw = encode("line1\nline2", event="training.log", id="abc", retry=10)
    events, dec = decode(raw)
    assert [(e.event, e.data, e.id) for e in events] == [("training.log", "line1\nline2", "abc")]
    assert dec.retry == 10


def test_event_terminated_by_cr_is_dispatched_without_waiting_for_more_bytes() -> None:
    dec = SSEDecoder()
    assert datas(dec.feed(b"data: a\r\r")) == ["a"]
    assert datas(dec.feed(b"\ndata: b\r\n\r")) == ["b"]
    assert dec.feed(b"\n") == []
    dec.close()


def test_values_keep_nul_and_extra_spaces() -> None:
    events, dec = decode(b"id:  5\nevent: a\x00b\ndata: x\x00y\n\n")
    assert [(e.event, e.data, e.id) for e in events] == [("a\x00b", "x\x00y", " 5")]
    assert dec.last_event_id == " 5"


def test_empty_feed_and_close_are_harmless() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"") == []
    assert not dec.close()
