# SPDX-License-Identifier: Apache-2.0
"""``leukodx serve``: run the CDS Hooks service (:mod:`engine.service.app`) with uvicorn.

Client authentication is on by default: the service refuses to start without ``--jwks`` and at
least one ``--issuer`` unless ``--insecure-no-auth`` is given, which is for local prototyping and
says so loudly. FastAPI, uvicorn and PyJWT are imported only when the command runs, so the rest of
the CLI works without the ``service`` extra.

Slow clients cannot starve the others: a connection must deliver a complete request head within
``--header-timeout`` seconds of opening (or of its previous response), whether it sends nothing or
trickles a byte at a time (:func:`_head_deadline_protocol`); a body must arrive within
``--body-timeout`` seconds (408, :class:`engine.service.app.BodyDeadline`); an idle keep-alive
connection is closed after ``--keep-alive-timeout`` seconds; a request head is at most 16 KiB;
and beyond ``--max-connections`` open connections a request is answered 503 at once.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import logging
import sys
from typing import Any

from engine.backends.base import DEFAULT_BACKEND
from engine.cores import usable_cores
from engine.errors import LeukodxError
from engine.service.logs import DEFAULT_BURST, DEFAULT_WINDOW

EXIT_OK, EXIT_INVALID = 0, 2
MAX_HEAD_BYTES = 16 * 1024  # a request line and headers larger than this are refused (h11: 400)
_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_INSTALL = "the service needs its optional dependencies: pip install 'leukodx[service]'"


def register(subparsers: Any) -> None:
    """Add the ``serve`` subcommand."""
    p = subparsers.add_parser(
        "serve", help="run the CDS Hooks 2.0 service (patient-view, order-select, /diagnose)",
        description="Serve CDS Hooks 2.0 (GET /cds-services, POST /cds-services/{id}, feedback) "
        "and POST /diagnose. Clients must send a JWT signed with a key of --jwks and issued by "
        "an --issuer, unless --insecure-no-auth is given.",
    )  # fmt: skip
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="TCP port (default: 8080)")
    p.add_argument("--jwks", metavar="PATH_OR_URL", help="JWK Set of the trusted CDS clients")
    p.add_argument(
        "--issuer",
        action="append",
        default=[],
        metavar="ISS",
        help="allowed JWT issuer (iss); repeat for several clients",
    )
    p.add_argument(
        "--public-url",
        metavar="URL",
        help="base URL the clients call, e.g. https://cds.example.org (the JWT 'aud' "
        "is this plus the path; default: the URL of each request)",
    )
    p.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="accept unauthenticated calls (local prototyping only)",
    )
    p.add_argument("--rules", metavar="DIR", help="knowledge base directory (default: bundled)")
    p.add_argument(
        "--backend",
        default=DEFAULT_BACKEND,
        help="inference backend: clips (default) or experta (the pure-Python reference)",
    )
    p.add_argument(
        "--max-body-bytes",
        type=int,
        default=2_000_000,
        metavar="N",
        help="larger request bodies get 413 (default: 2000000)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="diagnosis threads (default: 1; the engine is CPU-bound, so more threads seldom help)",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=None,
        metavar="N",
        help="answer CDS hook calls in N worker processes, to use N cores; 0 answers them in the "
        "server process on the --workers threads (default: one per core this process may use, "
        f"at most {MAX_DEFAULT_PROCESSES}, or 0 on one core; here {default_processes()})",
    )
    p.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser clients from ORIGIN (e.g. a CDS Hooks sandbox); repeatable",
    )
    limits = (
        ("--header-timeout", 10.0, "seconds a client has to send a complete request head"),
        ("--body-timeout", 30.0, "seconds a client has to send the request body (then 408)"),
        ("--keep-alive-timeout", 5.0, "seconds an idle keep-alive connection stays open"),
    )
    for flag, default, text in limits:
        p.add_argument(
            flag, type=float, default=default, metavar="S", help=f"{text} (default: {default:g})"
        )
    p.add_argument(
        "--report-ttl",
        type=float,
        default=3600.0,
        metavar="S",
        help="seconds a card's link to the patient report works (default: 3600); reports are "
        "kept in memory only",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=500,
        metavar="N",
        help="open connections beyond which requests get 503 at once (default: 500)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--log-repeats",
        type=int,
        default=DEFAULT_BURST,
        metavar="N",
        help=f"like log lines written per {DEFAULT_WINDOW:g} s before the rest are only counted "
        f"(default: {DEFAULT_BURST})",
    )
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    problem = _auth_problem(args) or _limit_problem(args)
    if problem:
        print(f"leukodx serve: {problem}", file=sys.stderr)
        return EXIT_INVALID
    try:
        import uvicorn

        from engine.service.app import create_app
        from engine.service.auth import JwtSettings
        from engine.service.hooks import ServiceSettings
    except ImportError as exc:
        raise LeukodxError(f"{_INSTALL} ({exc})") from exc
    auth = None if args.insecure_no_auth else JwtSettings(args.jwks, tuple(args.issuer))
    if auth is None:
        print(
            "leukodx serve: WARNING: authentication is disabled (--insecure-no-auth); any "
            "caller can use this service. Use it for local prototyping only.",
            file=sys.stderr,
        )
    settings = ServiceSettings(
        rules=args.rules, backend=args.backend, auth=auth, public_url=args.public_url,
        max_body_bytes=args.max_body_bytes, workers=args.workers,
        cors_origins=tuple(args.cors_origin), report_ttl=args.report_ttl,
        processes=default_processes() if args.processes is None else args.processes,
        freeze_heap=True,  # this process is ours: see engine/heap.py
    )  # fmt: skip
    app = create_app(settings, body_timeout=args.body_timeout)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        http=_head_deadline_protocol(args.header_timeout),
        timeout_keep_alive=max(1, round(args.keep_alive_timeout)),
        limit_concurrency=args.max_connections,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        access_log=False,
        log_config=_log_config(args.log_level.upper(), args.log_repeats),
        log_level=args.log_level,
    )
    return EXIT_OK


#: The most worker processes ``leukodx serve`` starts by itself (each holds about 70 MB).
MAX_DEFAULT_PROCESSES = 4


def default_processes() -> int:
    """Worker processes when ``--processes`` is not given: one per core this process may use
    (:func:`engine.cores.usable_cores`: affinity and container quota), at most
    :data:`MAX_DEFAULT_PROCESSES`, so that concurrent hook calls are not serialised on one core
    (on the 2-core reference machine the p99 at 16 clients halves, benchmarks/README.md) and a
    prototype on a large machine does not start dozens of 70 MB workers; more is a choice
    (``--processes N``). On one core a worker would only add a hop, so calls stay in the server."""
    cores = min(usable_cores(), MAX_DEFAULT_PROCESSES)
    return cores if cores > 1 else 0


def _limit_problem(args: argparse.Namespace) -> str | None:
    names = ("header_timeout", "body_timeout", "keep_alive_timeout", "max_connections")
    if args.log_repeats < 1:
        return f"--log-repeats must be at least 1 (got {args.log_repeats})"
    if args.processes is not None and args.processes < 0:
        return f"--processes must be 0 or more (got {args.processes})"
    for name in (*names, "report_ttl"):
        if not getattr(args, name) > 0:  # also refuses nan
            return (
                f"--{name.replace('_', '-')} must be a positive number (got {getattr(args, name)})"
            )
    return None


def _head_deadline_protocol(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with a deadline for each request head.

    uvicorn closes an idle keep-alive connection, but a connection that never sends a complete
    head (nothing at all, or a byte every few seconds) is kept forever, so a thousand slow clients
    exhaust the server's sockets. Here each connection must complete a request head within
    ``seconds`` of opening or of its previous response; otherwise it gets 408 and is closed. A
    request whose head has arrived is left to the body deadline and the application.
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    log = logging.getLogger("leukodx.service")

    class HeadDeadlineProtocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(_Coalescing(transport, self.loop))  # type: ignore[arg-type]
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(seconds, self._expired)

        def _expired(self) -> None:
            waiting = self.cycle is None or self.cycle.response_complete
            if self.conn.their_state is h11.IDLE and waiting and not self.transport.is_closing():
                log.debug("closed a connection without a complete request head after %g s", seconds)
                self.transport.write(_TIMED_OUT)
                self.transport.close()

    return HeadDeadlineProtocol


class _Coalescing:
    """A transport whose writes made in one turn of the event loop leave in one ``send``.

    uvicorn writes a response's head and its body separately; on a TCP connection each write is
    a system call and a packet that wakes the client, which then waits for the other half. Joined,
    a hook answer costs the server one send instead of two (about 5% of its CPU time on
    loopback). Everything but writing is the wrapped transport's; closing sends what is pending
    first, and a large write (beyond ``_FLUSH_AT`` bytes pending) leaves at once, so the
    transport's own flow control still sees it.
    """

    _FLUSH_AT = 256 * 1024

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))
        self._size += len(data)
        if self._size > self._FLUSH_AT:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            data, self._pending, self._size = b"".join(self._pending), [], 0
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _auth_problem(args: argparse.Namespace) -> str | None:
    if args.insecure_no_auth:
        if args.jwks or args.issuer:
            return "--insecure-no-auth cannot be combined with --jwks or --issuer"
        return None
    if not args.jwks or not args.issuer:
        return (
            "client authentication needs --jwks PATH_OR_URL and at least one --issuer; "
            "for local prototyping only, pass --insecure-no-auth instead"
        )
    return None


def _log_config(level: str, repeats: int = DEFAULT_BURST) -> dict[str, Any]:
    """uvicorn's logging configuration plus the service's own logger (stderr, no bodies), with
    repeated lines rate-limited (:mod:`engine.service.logs`)."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["repeats"] = {
        "()": "engine.service.logs.RepeatFilter",
        "burst": repeats,
        "window": DEFAULT_WINDOW,
    }
    config["handlers"]["default"].setdefault("filters", []).append("repeats")
    config["loggers"]["leukodx"] = {"handlers": ["default"], "level": level, "propagate": False}
    return config
