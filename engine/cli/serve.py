# SPDX-License-Identifier: Apache-2.0
"""``leukodx serve``: run the CDS Hooks service (:mod:`engine.service.app`) with uvicorn.

Client authentication is on by default: the service refuses to start without ``--jwks`` and at
least one ``--issuer`` unless ``--insecure-no-auth`` is given, which is for local prototyping and
says so loudly. FastAPI, uvicorn and PyJWT are imported only when the command runs, so the rest of
the CLI works without the ``service`` extra.
"""

from __future__ import annotations

import argparse
import copy
import sys
from typing import Any

from engine.errors import LeukodxError

EXIT_OK, EXIT_INVALID = 0, 2
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
    p.add_argument("--backend", default="experta", help="inference backend (default: experta)")
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
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser clients from ORIGIN (e.g. a CDS Hooks sandbox); repeatable",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    problem = _auth_problem(args)
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
        cors_origins=tuple(args.cors_origin),
    )  # fmt: skip
    app = create_app(settings)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        access_log=False,
        log_config=_log_config(args.log_level.upper()),
        log_level=args.log_level,
    )
    return EXIT_OK


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


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging configuration plus the service's own logger (stderr, no bodies)."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["leukodx"] = {"handlers": ["default"], "level": level, "propagate": False}
    return config
