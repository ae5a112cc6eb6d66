# SPDX-License-Identifier: Apache-2.0
"""Slow clients against a real ``leukodx serve`` on 127.0.0.1: idle and trickling connections are
closed after the head deadline, a stalled body gets 408, a connection flood gets 503 at once, and
through all of it a normal request still answers promptly. Every wait is bounded."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.service.conftest import Server, start_server, stop_server

HEAD_TIMEOUT, BODY_TIMEOUT, MAX_CONNECTIONS = 2.0, 2.0, 80


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("slow") / "serve.log"
    limits = {"--header-timeout": HEAD_TIMEOUT, "--body-timeout": BODY_TIMEOUT,
              "--max-connections": MAX_CONNECTIONS}  # fmt: skip
    started = start_server(log, "--insecure-no-auth", *(f"{k}={v}" for k, v in limits.items()))
    yield started
    stop_server(started)


def address(server: Server) -> tuple[str, int]:
    host, port = server.base.removeprefix("http://").split(":")
    return host, int(port)


def idle_sockets(server: Server, n: int) -> list[socket.socket]:
    """``n`` connections that send nothing (each times out on its own after 10 s)."""
    socks = []
    for _ in range(n):
        sock = socket.create_connection(address(server), timeout=10)
        socks.append(sock)
    return socks


def closed_by_server(sock: socket.socket, within: float) -> bytes | None:
    """What the server sent before closing ``sock`` (None if it stayed open ``within`` s)."""
    sock.settimeout(within)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return received


def timed_get(server: Server) -> tuple[int, float]:
    started = time.monotonic()
    response = httpx.get(server.url("/cds-services"), timeout=10)
    return response.status_code, time.monotonic() - started


def test_idle_sockets_do_not_block_a_normal_request(server: Server) -> None:
    socks = idle_sockets(server, 50)
    try:
        status, seconds = timed_get(server)
        assert status == 200 and seconds < 2.0, (status, seconds)
        # ... and the server drops them by itself after the head deadline, with a 408
        answers = [closed_by_server(s, HEAD_TIMEOUT + 5) for s in socks]
        assert all(a is not None and a.startswith(b"HTTP/1.1 408") for a in answers), answers[:3]
    finally:
        for sock in socks:
            sock.close()


def test_a_trickled_head_is_cut_at_the_deadline(server: Server) -> None:
    """A byte every half second keeps no connection open past the head deadline."""
    with socket.create_connection(address(server), timeout=10) as sock:
        started = time.monotonic()
        head = b"GET /cds-services HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40
        closed = False
        for byte in head:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.25)
            if time.monotonic() - started > HEAD_TIMEOUT + 5:
                break
        answer = b"" if closed else closed_by_server(sock, HEAD_TIMEOUT + 5)
        assert answer is not None and time.monotonic() - started < HEAD_TIMEOUT + 6


def test_a_stalled_body_gets_408(server: Server) -> None:
    with socket.create_connection(address(server), timeout=10) as sock:
        sock.sendall(b"POST /diagnose HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"wbc\": ")  # fmt: skip
        started = time.monotonic()
        answer = closed_by_server(sock, BODY_TIMEOUT + 5)
    assert answer is not None and answer.startswith(b"HTTP/1.1 408"), answer
    assert b"request_timeout" in answer and time.monotonic() - started < BODY_TIMEOUT + 5


def test_beyond_the_connection_limit_requests_get_503_at_once(server: Server) -> None:
    socks = idle_sockets(server, MAX_CONNECTIONS + 5)
    try:
        status, seconds = timed_get(server)
        assert status == 503 and seconds < 2.0, (status, seconds)
        for sock in socks:
            sock.close()
        deadline = time.monotonic() + 10
        while (status := timed_get(server)[0]) != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status == 200
    finally:
        for sock in socks:
            sock.close()


def test_the_limits_are_checked_at_startup() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "engine", "serve", "--insecure-no-auth", "--body-timeout", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 2 and "--body-timeout must be a positive number" in run.stderr
