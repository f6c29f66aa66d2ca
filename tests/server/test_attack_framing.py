"""Framing and slow clients, over raw sockets, against the ``arkor-rx serve`` subprocess.

Requests that aiohttp's parser refuses are answered by the server's own
request handler in the protocol's JSON shape, never ``text/plain``, and never
with the request's bytes (which may hold the token) echoed back.
"""

from __future__ import annotations

import socket
import time

import pytest

from tests.server.attack_server import BODY_TIMEOUT, HEADER_TIMEOUT, TOKEN, AttackServer, parse_raw

AUTH = f"Authorization: Bearer {TOKEN}\r\n".encode()
POST = b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\n" + AUTH

FRAMING: dict[str, bytes] = {
    "bad-chunk-size": POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "chunk-size-overflow": POST
    + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nx\r\n",
    "content-length-and-te": POST
    + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two-content-lengths": POST + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "negative-content-length": POST + b"Content-Length: -1\r\n\r\n{}",
    "text-content-length": POST + b"Content-Length: ten\r\n\r\n{}",
    "te-gzip": POST + b"Transfer-Encoding: gzip\r\n\r\n{}",
    "bad-method": b"G(T /v1/jobs HTTP/1.1\r\nHost: x\r\n\r\n",
    "tls-hello": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
    "bad-version": b"GET /v1/jobs HTTP/9.9\r\nHost: x\r\n\r\n",
    "bare-lf": b"GET /v1/jobs HTTP/1.1\nHost: x\n\n",
    "header-without-colon": b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
    "control-char-in-token": b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
    + TOKEN.encode()
    + b"\x01\r\n\r\n",
    "nul-in-header": b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "space-before-colon": b"GET /v1/jobs HTTP/1.1\r\nHost : x\r\n\r\n",
    "long-request-line": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "long-header-with-token": b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\n"
    + AUTH
    + b"X-Big: "
    + b"a" * 9000
    + b"\r\n\r\n",
    "1000-headers": b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\n"
    + b"".join(b"X-H%d: v\r\n" % i for i in range(1000))
    + b"\r\n",
}


@pytest.mark.parametrize("raw", list(FRAMING.values()), ids=list(FRAMING))
def test_parser_refusals_are_400_json_without_echo(attack: AttackServer, raw: bytes) -> None:
    data = attack.raw(raw)
    answer = parse_raw(data)
    assert answer.status == 400, data[:300]
    assert answer.content_type.startswith("application/json"), data[:300]
    assert answer.error.startswith("malformed HTTP request: ")
    assert TOKEN.encode() not in data
    assert b"aaaaaaaa" not in data  # the request is never quoted back


def test_a_good_request_still_works_on_a_raw_socket(attack: AttackServer) -> None:
    data = attack.raw(b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + AUTH + b"\r\n")
    answer = parse_raw(data)
    assert answer.status == 200
    assert isinstance(answer.json()["jobs"], list)


def _cut(sock: socket.socket) -> bool:
    """Whether the server has cut the connection: an orderly close or a reset, both are cuts."""
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionError:  # reset or aborted: the server dropped the socket under us
        return True


def test_slow_headers_are_cut_after_the_header_timeout(attack: AttackServer) -> None:
    # The client trickles a header byte every 0.1 s for as long as it takes; only the
    # server's cut ends the loop. The give-up bound is far past the header timeout so
    # that a loaded machine's slowness changes when the cut is seen, never whether.
    give_up = HEADER_TIMEOUT + 60
    with socket.create_connection((attack.host, attack.port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        sock.settimeout(0.1)
        cut = False
        while not cut and time.monotonic() - started < give_up:
            try:
                sock.sendall(b"a")
            except ConnectionError:  # broken pipe or reset: a cut as well
                cut = True
                break
            cut = _cut(sock)
        waited = time.monotonic() - started
    assert cut, f"the server never cut a connection trickling its headers ({waited:.0f} s)"
    assert waited >= HEADER_TIMEOUT * 0.5  # not cut at once: the timeout, not a parse error


def test_an_idle_connection_is_closed(attack: AttackServer) -> None:
    with socket.create_connection((attack.host, attack.port), timeout=HEADER_TIMEOUT + 5) as sock:
        assert sock.recv(1) == b""  # closed by the server, not by our timeout


def test_a_slow_body_gets_408_json(attack: AttackServer) -> None:
    head = POST + b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    with socket.create_connection((attack.host, attack.port), timeout=BODY_TIMEOUT + 8) as sock:
        sock.sendall(head + b'{"name": ')
        data = sock.recv(65536)
    answer = parse_raw(data)
    assert answer.status == 408
    assert answer.content_type.startswith("application/json")
    assert "body timeout" in answer.error


def test_a_body_whose_framing_breaks_midway_is_answered_in_json(attack: AttackServer) -> None:
    with socket.create_connection((attack.host, attack.port), timeout=BODY_TIMEOUT + 8) as sock:
        sock.sendall(POST + b'Transfer-Encoding: chunked\r\n\r\n2\r\n{"\r\n')
        time.sleep(0.2)  # the handler is reading the body by now (or not: either is fine)
        sock.sendall(b"zz\r\nabc\r\n")
        data = sock.recv(65536)
    answer = parse_raw(data)
    assert answer.status in (400, 408)
    assert answer.content_type.startswith("application/json")
