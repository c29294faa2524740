"""Connections a real server must not keep (idle, half-sent, trickling) and clients that leave early,
driven through raw sockets on 127.0.0.1 with short timeouts."""

from __future__ import annotations

import json
import logging
import re
import select
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest

HELLO = [{"role": "user", "content": "Hello there!"}]
TIMEOUT = 0.5  # read_timeout and keep_alive_timeout of these servers, in seconds


def _connect(base_url: str) -> socket.socket:
    address = urlsplit(base_url)
    return socket.create_connection((address.hostname, address.port), timeout=10)


def _receive(sock: socket.socket) -> bytes:
    """What the server sent; b"" once it closed the connection (a reset is a close too)."""
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""


def _until_closed(sock: socket.socket, trickle: bytes = b"", limit: float = 5.0) -> tuple[float, bytes]:
    """Seconds until the server closes ``sock``, and what it sent meanwhile; sends ``trickle`` every
    0.1 s while waiting (a slow client, not an idle one). Fails past ``limit``."""
    started, received = time.monotonic(), b""
    while time.monotonic() - started < limit:
        if select.select([sock], [], [], 0.1)[0]:
            if not (data := _receive(sock)):
                return time.monotonic() - started, received
            received += data
        elif trickle:
            try:
                sock.send(trickle)
            except OSError:  # closed under us: the next recv says so
                pass
    raise AssertionError(f"still open after {limit} s; received {received[:200]!r}")


def _response(raw: bytes) -> tuple[int, dict[str, str], dict]:
    """Status, headers and JSON body of one HTTP/1.1 response read off a socket."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, json.loads(body)


def test_idle_and_half_sent_connections_are_closed_in_time(serve, caplog):
    caplog.set_level(logging.INFO, logger="posttrain.serve")
    base_url, _ = serve(read_timeout=TIMEOUT, keep_alive_timeout=TIMEOUT)

    # A connection that never sends a byte.
    seconds, received = _until_closed(_connect(base_url))
    assert TIMEOUT - 0.05 < seconds < TIMEOUT + 1 and received == b""

    # Kept alive after a response, then idle.
    sock = _connect(base_url)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
    seconds, received = _until_closed(sock)
    assert TIMEOUT - 0.05 < seconds < TIMEOUT + 1 and received.startswith(b"HTTP/1.1 200 ")

    # A request head sent a byte every 0.1 s: the later bytes do not push the deadline back.
    sock = _connect(base_url)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\nX-Slow: ")
    seconds, received = _until_closed(sock, trickle=b"a")
    assert TIMEOUT - 0.05 < seconds < TIMEOUT + 1 and received == b""
    assert "connection closed: status=408 (no complete request within 0.5 seconds)" in caplog.messages

    # A body sent a byte every 0.1 s: the app answers 408 and closes.
    sock = _connect(base_url)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"model\": ")
    seconds, received = _until_closed(sock, trickle=b" ")
    status, headers, body = _response(received)
    assert TIMEOUT - 0.05 < seconds < TIMEOUT + 1 and (status, headers["connection"]) == (408, "close")
    assert body["error"] == {"message": "the request body did not arrive within 0.5 seconds",
                             "type": "invalid_request_error", "param": None, "code": "request_timeout"}
    assert any(re.fullmatch(r"chatcmpl-\w+ status=408 .*", message) for message in caplog.messages)

    # A body still trickling in after the app answered without reading it.
    sock = _connect(base_url)
    sock.sendall(b"POST /v1/nowhere HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n{")
    seconds, received = _until_closed(sock, trickle=b" ")
    assert TIMEOUT - 0.05 < seconds < TIMEOUT + 1 and _response(received)[0] == 404


def test_many_trickling_connections_are_all_closed_and_others_still_served(serve):
    """A bounded slowloris on loopback: 50 connections, each sending a header byte every 0.2 s."""
    timeout = 1.0  # room for 50 connects and one request before the first closes, on a busy machine
    base_url, _ = serve(read_timeout=timeout, keep_alive_timeout=timeout)
    started = time.monotonic()
    open_socks = {}
    for _ in range(50):
        sock = _connect(base_url)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\nX-Slow: ")
        open_socks[sock] = time.monotonic()
    health = httpx.get(f"{base_url}/health", timeout=5)  # served while all 50 are open
    assert health.status_code == 200 and time.monotonic() - started < timeout
    lifetimes = []
    while open_socks and time.monotonic() - started < 5:
        for sock in select.select(list(open_socks), [], [], 0.2)[0]:
            assert (data := _receive(sock)) == b"", data[:200]  # never an answer: the head is not complete
            lifetimes.append(time.monotonic() - open_socks.pop(sock))
            sock.close()
        for sock in open_socks:
            try:
                sock.send(b"a")
            except OSError:  # closed under us: the next select says so
                pass
    assert not open_socks, f"{len(open_socks)} connections still open after 5 s"
    assert len(lifetimes) == 50 and timeout - 0.05 < min(lifetimes) and max(lifetimes) < timeout + 1.5


def _wait_for(caplog, pattern: str, count: int = 1, limit: float = 10.0) -> list[str]:
    deadline = time.monotonic() + limit
    while len(found := [m for m in caplog.messages if re.fullmatch(pattern, m)]) < count:
        assert time.monotonic() < deadline, f"no {count} log lines like {pattern!r} in {caplog.messages}"
        time.sleep(0.02)
    return found


@pytest.fixture
def uvicorn_records(caplog):
    """uvicorn's own loggers do not propagate to the root logger: catch their records too."""
    uvicorn_logger = logging.getLogger("uvicorn")
    uvicorn_logger.addHandler(caplog.handler)
    try:
        yield
    finally:
        uvicorn_logger.removeHandler(caplog.handler)


def test_clients_that_leave_are_logged_once_as_499_without_a_traceback(serve, caplog, uvicorn_records):
    caplog.set_level(logging.INFO, logger="posttrain.serve")
    base_url, app = serve()
    line_499 = r"chatcmpl-\w+ status=499 prompt_tokens=\d+ completion_tokens=\d+ seconds=[\d.]+"

    for path in ("/v1/chat/completions", "/v1/feedback"):  # gone in the middle of the body
        sock = _connect(base_url)
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                     "Content-Length: 1000\r\n\r\n{\"model\": ".encode())
        time.sleep(0.2)
        sock.close()
    _wait_for(caplog, line_499)
    _wait_for(caplog, r"POST /v1/feedback status=499 \(the client left\)")

    body = {"model": "tiny", "messages": HELLO, "max_tokens": 900, "ignore_eos": True}
    dropped = []
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for _ in range(3):  # gone in the middle of a stream
            with http.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as response:
                chunks = (json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: "))
                dropped.append([next(chunks)["id"] for _ in range(3)][0])
        with pytest.raises(httpx.ReadTimeout):  # gone while waiting for a whole answer
            http.post("/v1/chat/completions", json=body, timeout=0.3)
    _wait_for(caplog, line_499, count=5)
    assert app.state.scheduler.wait_idle()
    for response_id in dropped:
        (line,) = [message for message in caplog.messages if response_id in message]
        assert re.fullmatch(line_499, line) and int(re.search(r"completion_tokens=(\d+)", line)[1]) < 900
    assert not any("status=200" in message for message in caplog.messages)
    assert [record.levelname for record in caplog.records] == ["INFO"] * len(caplog.records)
    assert not any(record.exc_info for record in caplog.records)
