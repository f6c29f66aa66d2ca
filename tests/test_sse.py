"""arkor_rx.sse: the WHATWG event-stream interpretation rules, case by case.

Every spec case is decoded three ways (h11 style): whole, byte by byte, and cut
in two at every position. All three must give the same events and state.
"""

from __future__ import annotations

import pytest

from arkor_rx.errors import ArkorError, ConfigError, SSEError, SSELimitError
from arkor_rx.sse import (
    DEFAULT_MAX_EVENT_SIZE,
    DEFAULT_MAX_LINE_SIZE,
    ServerSentEvent,
    SSEDecoder,
    encode,
    encode_comment,
)

E = ServerSentEvent


def run(chunks: list[bytes], **limits: int) -> tuple[list[ServerSentEvent], SSEDecoder]:
    dec = SSEDecoder(**limits)
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events += dec.feed(chunk)
    events += dec.close()
    return events, dec


def feed_in_pieces(dec: SSEDecoder, stream: bytes, size: int) -> list[ServerSentEvent]:
    events: list[ServerSentEvent] = []
    for i in range(0, len(stream), size):
        events += dec.feed(stream[i : i + size])
    return events


def decode(stream: bytes) -> list[ServerSentEvent]:
    """Decode ``stream`` whole, byte by byte and split at every position; all must agree."""
    expected, dec = run([stream])
    state = (dec.last_event_id, dec.retry)
    ways = {"byte by byte": [stream[i : i + 1] for i in range(len(stream))]}
    for cut in range(len(stream) + 1):
        ways[f"cut at {cut}"] = [stream[:cut], stream[cut:]]
    for name, chunks in ways.items():
        events, dec = run(chunks)
        assert events == expected, name
        assert (dec.last_event_id, dec.retry) == state, name
    return expected


def final_state(stream: bytes) -> tuple[str, int | None]:
    _, dec = run([stream])
    return dec.last_event_id, dec.retry


# --- the spec's own examples (WHATWG HTML, 9.2.6 "Interpreting an event stream") ---


def test_spec_example_stock_ticker_multiline_data() -> None:
    stream = b"data: YHOO\ndata: +2\ndata: 10\n\n"
    assert decode(stream) == [E(data="YHOO\n+2\n10")]


def test_spec_example_comment_and_ids() -> None:
    stream = (
        b": test stream\n\ndata: first event\nid: 1\n\n"
        b"data:second event\nid\n\ndata:  third event\n\n"
    )
    assert decode(stream) == [
        E(data="first event", id="1"),
        E(data="second event", id=None),  # "id" alone resets the last event ID
        E(data=" third event", id=None),  # only one space is stripped
    ]
    assert final_state(stream) == ("", None)


def test_spec_example_empty_data_fields() -> None:
    # Two events: the first has data "", the second has data "\n".
    stream = b"data\n\ndata\ndata\n\ndata:"
    assert decode(stream) == [E(data=""), E(data="\n")]


def test_spec_example_space_after_colon_is_optional() -> None:
    stream = b"data:test\n\ndata: test\n\n"
    assert decode(stream) == [E(data="test"), E(data="test")]


# --- Rule 1: UTF-8 decoding ---


def test_utf8_multibyte_characters() -> None:
    text = "data: héllo → 世界 🎉\n\n"
    assert decode(text.encode()) == [E(data="héllo → 世界 🎉")]


def test_invalid_utf8_becomes_replacement_character() -> None:
    assert decode(b"data: a\xffb\xc3(\n\n") == [E(data="a\ufffdb\ufffd(")]


def test_truncated_utf8_at_end_of_line_becomes_replacement() -> None:
    assert decode(b"data: \xe4\xb8\n\n") == [E(data="\ufffd")]


def test_multibyte_character_split_across_chunks() -> None:
    emoji = "🎉".encode()
    events, _ = run([b"data: x", emoji[:1], emoji[1:3], emoji[3:], b"y\n\n"])
    assert events == [E(data="x🎉y")]


# --- Rule 2: BOM ---


def test_leading_bom_is_stripped() -> None:
    assert decode(b"\xef\xbb\xbfdata: x\n\n") == [E(data="x")]


def test_only_the_first_bom_is_stripped() -> None:
    # A second BOM makes the first line's name "\ufeffdata": an unknown field.
    assert decode(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: y\n\n") == [E(data="y")]


def test_bom_after_the_start_is_kept_as_data() -> None:
    assert decode(b"data: \xef\xbb\xbfx\n\n") == [E(data="\ufeffx")]
    assert decode(b"data: x\n\n\xef\xbb\xbfdata: y\n\ndata: z\n\n") == [E(data="x"), E(data="z")]


def test_bom_split_across_chunks_is_stripped() -> None:
    events, _ = run([b"\xef", b"\xbb", b"\xbf", b"data: x\n\n"])
    assert events == [E(data="x")]
    events, _ = run([b"", b"\xef\xbb", b"\xbfdata: x\n", b"\n"])
    assert events == [E(data="x")]


def test_bom_alone_then_bom_in_next_chunk_is_kept() -> None:
    events, _ = run([b"\xef\xbb\xbf", b"\xef\xbb\xbfdata: x\n\ndata: y\n\n"])
    assert events == [E(data="y")]


# --- Rule 3: line ends ---


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_line_ends(eol: bytes) -> None:
    stream = eol.join([b"id: 1", b"event: a", b"data: x", b"data: y", b"", b"data: z", b"", b""])
    assert decode(stream) == [E(event="a", data="x\ny", id="1"), E(data="z", id="1")]


def test_mixed_line_ends() -> None:
    assert decode(b"data: a\rdata: b\r\ndata: c\n\r\n") == [E(data="a\nb\nc")]


def test_cr_at_chunk_end_and_lf_at_next_chunk_start_are_one_line_end() -> None:
    events, _ = run([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"])
    assert events == [E(data="a\nb")]


def test_lone_cr_at_chunk_end_ends_the_line_at_once() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\r\r") == [E(data="a")]
    assert dec.feed(b"\n") == []  # the LF completes the CRLF; no extra empty line
    assert dec.feed(b"data: b\n\n") == [E(data="b")]


def test_cr_cr_is_two_line_ends_and_lf_cr_is_two() -> None:
    assert decode(b"data: a\r\rdata: b\n\rdata: c\n\n") == [E(data="a"), E(data="b"), E(data="c")]


def test_cr_pending_survives_an_empty_decoded_chunk() -> None:
    # The half character decodes to nothing yet: the pending CR must wait for it.
    euro = "€".encode()
    events, _ = run([b"data: a\r", b"", b"\ndata: ", euro[:2], euro[2:], b"\n\n"])
    assert events == [E(data="a\n€")]


@pytest.mark.parametrize(
    "char", ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
)
def test_other_unicode_line_breaks_are_data(char: str) -> None:
    stream = f"data: a{char}b\nid: x{char}y\n\n".encode()
    assert decode(stream) == [E(data=f"a{char}b", id=f"x{char}y")]


# --- Rule 4: lines ---


def test_empty_line_dispatches() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: x\n") == []
    assert dec.feed(b"\n") == [E(data="x")]


def test_comments_are_ignored() -> None:
    stream = b":\n: keepalive\n:data: nope\ndata: x\n: in the middle\ndata: y\n\n:\n\n"
    assert decode(stream) == [E(data="x\ny")]


def test_comment_only_block_dispatches_nothing() -> None:
    assert decode(b": ping\n\n: ping\n\n") == []


def test_field_without_colon_has_empty_value() -> None:
    assert decode(b"data\n\n") == [E(data="")]
    assert decode(b"data\ndata\n\n") == [E(data="\n")]
    assert decode(b"event\ndata: x\n\n") == [E(data="x")]


def test_exactly_one_space_after_colon_is_stripped() -> None:
    assert decode(b"data:  x\n\n") == [E(data=" x")]
    assert decode(b"data:x \n\n") == [E(data="x ")]
    assert decode(b"data: \n\n") == [E(data="")]
    assert decode(b"event:  a\ndata:\tb\n\n") == [E(event=" a", data="\tb")]
    assert decode(b"id:  7\ndata: x\n\n") == [E(data="x", id=" 7")]


def test_only_the_first_colon_separates() -> None:
    assert decode(b"data: a: b:c\n\n") == [E(data="a: b:c")]
    assert decode(b"data:: x\n\n") == [E(data=": x")]
    assert decode(b"id: 1:2\nevent: a:b\ndata: x\n\n") == [E(event="a:b", data="x", id="1:2")]


def test_field_names_are_case_sensitive_and_exact() -> None:
    stream = b"Data: x\nDATA: y\ndata : z\n data: w\nevent : e\nid : 1\ndata: ok\n\n"
    assert decode(stream) == [E(data="ok")]


# --- Rule 5: fields ---


def test_event_field_sets_the_type() -> None:
    assert decode(b"event: training.log\ndata: x\n\n") == [E(event="training.log", data="x")]


def test_last_event_field_wins() -> None:
    assert decode(b"event: a\nevent: b\ndata: x\n\n") == [E(event="b", data="x")]


def test_empty_event_field_means_message() -> None:
    assert decode(b"event: a\nevent:\ndata: x\n\n") == [E(event="message", data="x")]
    assert decode(b"event: a\nevent: \ndata: x\n\n") == [E(event="message", data="x")]


def test_event_type_does_not_carry_over() -> None:
    assert decode(b"event: a\ndata: x\n\ndata: y\n\n") == [E(event="a", data="x"), E(data="y")]


def test_id_persists_across_events() -> None:
    stream = b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n"
    assert decode(stream) == [E(data="a", id="1"), E(data="b", id="1"), E(data="c", id="2")]
    assert final_state(stream) == ("2", None)


def test_id_with_nul_is_ignored() -> None:
    stream = b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"
    assert decode(stream) == [E(data="a", id="1"), E(data="b", id="1")]
    assert final_state(stream) == ("1", None)


def test_nul_is_allowed_in_data_and_event() -> None:
    assert decode(b"event: a\x00b\ndata: x\x00y\n\n") == [E(event="a\x00b", data="x\x00y")]


def test_empty_id_resets_last_event_id() -> None:
    stream = b"id: 1\ndata: a\n\nid:\ndata: b\n\n"
    assert decode(stream) == [E(data="a", id="1"), E(data="b", id=None)]
    assert final_state(stream) == ("", None)
    assert decode(b"id: 1\ndata: a\n\nid: \ndata: b\n\n")[1] == E(data="b", id=None)
    assert decode(b"id: 1\ndata: a\n\nid\ndata: b\n\n")[1] == E(data="b", id=None)


def test_id_set_after_data_in_the_same_block_applies() -> None:
    assert decode(b"data: x\nid: 9\n\n") == [E(data="x", id="9")]


def test_retry_sets_reconnection_time() -> None:
    stream = b"retry: 1500\ndata: x\n\ndata: y\n\n"
    assert decode(stream) == [E(data="x", retry=1500), E(data="y")]
    assert final_state(stream) == ("", 1500)


def test_retry_zero_is_valid() -> None:
    assert decode(b"retry: 0\ndata: x\n\n") == [E(data="x", retry=0)]
    assert final_state(b"retry: 0\n") == ("", 0)


@pytest.mark.parametrize(
    "value",
    [b"1a", b"-1", b"", b" ", b"+5", b"1.5", b"1e3", b" 5", b"5 ", b"\xd9\xa1", b"\xef\xbc\x95"],
    ids=repr,
)
def test_invalid_retry_is_ignored(value: bytes) -> None:
    # \xd9\xa1 is ARABIC-INDIC DIGIT ONE, \xef\xbc\x95 FULLWIDTH DIGIT FIVE: digits, not ASCII.
    stream = b"retry: 100\n\nretry: " + value + b"\ndata: x\n\n"
    assert decode(stream) == [E(data="x")]
    assert final_state(stream) == ("", 100)


def test_retry_without_space_and_leading_zeros() -> None:
    assert decode(b"retry:007\ndata: x\n\n") == [E(data="x", retry=7)]


def test_retry_with_absurdly_many_digits_is_ignored() -> None:
    stream = b"retry: " + b"9" * 5000 + b"\ndata: x\n\n"
    assert decode(stream) == [E(data="x")]


def test_retry_applies_at_once_even_without_dispatch() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"retry: 250\n") == []
    assert dec.retry == 250
    assert dec.feed(b"\ndata: x\n\n") == [E(data="x")]  # the block's retry does not carry over
    assert dec.retry == 250


def test_last_valid_retry_in_a_block_wins() -> None:
    assert decode(b"retry: 1\nretry: 2\nretry: x\ndata: d\n\n") == [E(data="d", retry=2)]


def test_unknown_fields_are_ignored() -> None:
    assert decode(b"foo: bar\nretryx: 5\ndata: x\nids: 3\n\n") == [E(data="x")]
    assert final_state(b"foo: bar\nretryx: 5\ndata: x\nids: 3\n\n") == ("", None)


# --- Rule 6: dispatch ---


def test_block_with_id_and_no_data_updates_last_event_id_without_dispatch() -> None:
    stream = b"id: 5\n\n"
    assert decode(stream) == []
    assert final_state(stream) == ("5", None)
    assert decode(b"id: 5\n\ndata: x\n\n") == [E(data="x", id="5")]


def test_block_with_event_and_no_data_is_not_dispatched() -> None:
    assert decode(b"event: ping\n\ndata: x\n\n") == [E(data="x")]


def test_empty_data_line_is_dispatched() -> None:
    assert decode(b"event: ping\ndata:\n\n") == [E(event="ping", data="")]


def test_only_one_trailing_lf_is_removed() -> None:
    assert decode(b"data: x\ndata:\n\n") == [E(data="x\n")]


def test_several_empty_lines_between_events() -> None:
    assert decode(b"\n\n\ndata: a\n\n\n\ndata: b\n\n\n") == [E(data="a"), E(data="b")]


def test_last_event_id_moves_only_at_block_end() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b\n") == [E(data="a", id="1")]
    assert dec.last_event_id == "1"  # block 2 is not finished: event 2 not received yet
    assert dec.feed(b"\n") == [E(data="b", id="2")]
    assert dec.last_event_id == "2"


def test_typical_training_stream() -> None:
    stream = (
        b'id: 7\nevent: training.log\ndata: {"step":70}\n\n'
        b"event: ping\ndata:\n\n"
        b': keepalive\n\nid: 8\nevent: checkpoint.saved\ndata: {"step":80}\n\n'
        b"event: end\ndata: {}\n\n"
    )
    assert decode(stream) == [
        E(event="training.log", data='{"step":70}', id="7"),
        E(event="ping", data="", id="7"),
        E(event="checkpoint.saved", data='{"step":80}', id="8"),
        E(event="end", data="{}", id="8"),
    ]
    assert final_state(stream) == ("8", None)


def test_common_frame_continuing_a_pending_block() -> None:
    # The decoder's fast path for "id/event/data" frames must merge with lines before them.
    assert decode(b"data: a\nid: 1\nevent: e\ndata: b\n\n") == [E(event="e", data="a\nb", id="1")]
    assert decode(b"retry: 3\nid: 1\nevent: e\ndata: b\n\n") == [
        E(event="e", data="b", id="1", retry=3)
    ]
    assert decode(b"event: x\nid: 1\nevent: e\ndata: b\n\n") == [E(event="e", data="b", id="1")]
    assert decode(b"id: 0\nid: 1\nevent: e\ndata: b\n\n") == [E(event="e", data="b", id="1")]
    assert decode(b"id: 1\nevent: e\ndata: b\ndata: c\n\n") == [E(event="e", data="b\nc", id="1")]
    assert decode(b"xid: 1\nevent: e\ndata: b\n\n") == [E(event="e", data="b")]


def test_many_frames_in_one_chunk_and_across_chunks() -> None:
    frames = [
        f'id: {i}\nevent: training.log\ndata: {{"step":{i}}}\n\n'.encode() for i in range(300)
    ]
    frames[100] = b"event: ping\ndata:\n\n"
    stream = b"".join(frames)
    expected = [E(event="training.log", data=f'{{"step":{i}}}', id=str(i)) for i in range(300)]
    expected[100] = E(event="ping", data="", id="99")
    for size in (1, 7, 64, 1000, len(stream)):
        events, dec = run([stream[i : i + size] for i in range(0, len(stream), size)])
        assert events == expected, size
        assert dec.last_event_id == "299"


def test_events_equal_hash_and_repr_like_constructed_ones() -> None:
    (fast,) = decode(b"id: 1\nevent: e\ndata: b\n\n")
    built = ServerSentEvent(event="e", data="b", id="1", retry=None)
    assert fast == built
    assert hash(fast) == hash(built)
    assert repr(fast) == repr(built)
    with pytest.raises(AttributeError):
        fast.data = "other"  # type: ignore[misc]


def test_server_sent_event_defaults() -> None:
    sse = ServerSentEvent()
    assert (sse.event, sse.data, sse.id, sse.retry) == ("message", "", None, None)


# --- Rule 7: end of stream ---


def test_incomplete_trailing_event_is_dropped_at_close() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\n\nid: 2\ndata: b\n") == [E(data="a")]
    assert dec.close() == []
    assert dec.last_event_id == ""


def test_trailing_line_without_eol_is_not_dispatched() -> None:
    assert decode(b"data: a\n\ndata: b") == [E(data="a")]
    assert decode(b"data: a\n\n\ndata") == [E(data="a")]


def test_trailing_cr_already_ended_the_line() -> None:
    assert decode(b"data: a\n\r") == [E(data="a")]


def test_close_is_idempotent_and_feed_after_close_raises() -> None:
    dec = SSEDecoder()
    dec.feed(b"data: a\n")
    assert dec.close() == []
    assert dec.close() == []
    with pytest.raises(SSEError, match="after close"):
        dec.feed(b"\n")


def test_close_drops_unfinished_utf8() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: \xe2\x82") == []
    assert dec.close() == []


def test_empty_feed() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"") == []
    assert dec.feed(b"data: x\n\n") == [E(data="x")]


# --- Rule 8: limits ---


def test_default_limits() -> None:
    assert DEFAULT_MAX_LINE_SIZE == 1 << 20
    assert DEFAULT_MAX_EVENT_SIZE == 16 << 20


def test_line_at_the_limit_is_accepted() -> None:
    events, _ = run([b"data: " + b"x" * 94 + b"\n\n"], max_line_size=100)
    assert events == [E(data="x" * 94)]


@pytest.mark.parametrize("size", [1, 3, 50, 1000])
def test_line_over_the_limit_raises(size: int) -> None:
    stream = b"data: " + b"x" * 95 + b"\n\n"
    dec = SSEDecoder(max_line_size=100)
    with pytest.raises(SSELimitError) as info:
        feed_in_pieces(dec, stream, size)
    message = str(info.value)
    assert "line too long" in message
    assert "max_line_size of 100 characters" in message
    assert "configurable" in message


def test_long_line_before_a_good_one_in_the_same_chunk_raises() -> None:
    dec = SSEDecoder(max_line_size=10)
    with pytest.raises(SSELimitError, match="line too long"):
        dec.feed(b"data: 0123456789\ndata: x\n\n")


def test_pending_line_over_the_limit_raises_before_buffering_it_all() -> None:
    dec = SSEDecoder(max_line_size=1 << 20)
    chunk = b"x" * (64 << 10)
    fed: list[int] = []

    def feed_100_mib() -> None:
        for _ in range(100 * 16):  # 100 MiB in 64 KiB reads, never a line end
            dec.feed(chunk)
            fed.append(len(chunk))

    with pytest.raises(SSELimitError, match="pending line"):
        feed_100_mib()
    assert sum(fed) == 1 << 20  # raised on the read that took the pending line past 1 MiB


def test_ten_megabyte_chunk_without_newline_raises() -> None:
    dec = SSEDecoder(max_line_size=1 << 20)
    with pytest.raises(SSELimitError) as info:
        dec.feed(b"data: " + b"x" * (10 << 20))
    assert "max_line_size" in str(info.value)


def test_event_over_the_limit_raises() -> None:
    stream = b"data: 0123456789\n" * 10 + b"\n"
    events, _ = run([stream], max_event_size=200)
    assert len(events[0].data) == 109
    for size in (1, 17, len(stream)):
        dec = SSEDecoder(max_event_size=100)
        with pytest.raises(SSELimitError) as info:
            feed_in_pieces(dec, stream, size)
        message = str(info.value)
        assert "event too big" in message
        assert "max_event_size of 100 characters" in message
        assert "configurable" in message


def test_single_common_frame_over_the_event_limit_raises() -> None:
    dec = SSEDecoder(max_event_size=10)
    with pytest.raises(SSELimitError, match="max_event_size"):
        dec.feed(b"id: 1\nevent: e\ndata: 0123456789a\n\n")


def test_limit_errors_are_value_errors_in_the_tree() -> None:
    assert issubclass(SSELimitError, SSEError)
    assert issubclass(SSELimitError, ArkorError)
    assert issubclass(SSELimitError, ValueError)


@pytest.mark.parametrize("limits", [{"max_line_size": 0}, {"max_event_size": -1}])
def test_bad_limits_are_config_errors(limits: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        SSEDecoder(**limits)


# --- encoder ---


def test_encode_frame_layout() -> None:
    assert encode("hi") == b"data: hi\n\n"
    assert encode("hi", event="ping", id="7", retry=10) == (
        b"id: 7\nevent: ping\nretry: 10\ndata: hi\n\n"
    )
    assert encode("") == b"data: \n\n"
    assert encode("a\nb\r\nc\rd") == b"data: a\ndata: b\ndata: c\ndata: d\n\n"
    assert encode("é") == "data: é\n\n".encode()


def test_encode_empty_id_and_event() -> None:
    assert encode("x", id="") == b"id: \ndata: x\n\n"
    assert encode("x", event="") == b"data: x\n\n"


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\x00b"])
def test_encode_rejects_control_characters_in_id_and_event(bad: str) -> None:
    with pytest.raises(ValueError, match="must not contain"):
        encode("x", id=bad)
    with pytest.raises(ValueError, match="must not contain"):
        encode("x", event=bad)


def test_encode_rejects_negative_retry() -> None:
    with pytest.raises(ValueError, match="retry"):
        encode("x", retry=-1)


def test_encode_round_trips() -> None:
    stream = (
        encode(" spaced\n\nlines ", event="e", id="1", retry=5)
        + encode_comment("keepalive")
        + encode("", id="")
    )
    assert decode(stream) == [E(event="e", data=" spaced\n\nlines ", id="1", retry=5), E(data="")]


def test_encode_comment() -> None:
    assert encode_comment() == b":\n\n"
    assert encode_comment("keepalive") == b": keepalive\n\n"
    assert encode_comment("a\nb") == b": a\n: b\n\n"
    assert decode(encode_comment("a\r\nb") + encode_comment()) == []
