# SPDX-License-Identifier: Apache-2.0
"""Security of the service: CDS client JWTs (CDS Hooks 2.0 "Trusting CDS Clients"), request limits.

Every call carries ``Authorization: Bearer <JWT>``. A token is accepted only when

* its header names an asymmetric algorithm (RSA, RSA-PSS, ECDSA or EdDSA): ``none`` and every
  symmetric (HMAC) algorithm are refused, as the specification requires; ``typ`` is ``JWT`` and
  ``kid`` names a key of the configured JWK Set whose type fits the algorithm;
* the signature verifies with that key (the JWK Set comes from a file or a URL given at start-up;
  the token's ``jku`` header is never followed);
* ``iss`` is on the allow-list, ``aud`` is the URL of the endpoint called, ``exp``, ``iat`` and
  ``jti`` are present and ``exp`` has not passed (``leeway`` seconds of clock skew allowed);
* its ``jti`` has not been seen before from the same issuer (replays are refused until the token
  expires; the cache lives in memory).

Failures raise :class:`AuthError`, whose message is safe to return to the caller.

:class:`Guard` hardens every request: bodies above the limit get 413 before they reach the app,
unexpected exceptions become a bare 500 and are logged by type only (their messages may hold
patient data), and the access log records method, path, status and time, never a body.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.errors import LeukodxError
from engine.service.models import ErrorBody

log = logging.getLogger("leukodx.service")

#: Paths whose last segment is a credential (a report link's token), never written to the log.
_SECRET_PATH_PREFIXES: tuple[str, ...] = ("/reports/",)


def redact_path(path: str) -> str:
    """The path as the access log may show it: a report link's token replaced by ``<token>``."""
    for prefix in _SECRET_PATH_PREFIXES:
        if path.startswith(prefix) and len(path) > len(prefix):
            return prefix + "<token>"
    return path


RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "secp256k1": "ES256K"}
ASYMMETRIC = frozenset((*RSA_ALGORITHMS, *EC_ALGORITHMS.values(), "EdDSA"))
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")
URL_PREFIXES = ("https://", "http://")


class AuthError(LeukodxError):
    """The caller is not an authenticated CDS client (HTTP 401)."""


class AuthConfigError(LeukodxError):
    """The JWT settings are unusable (no keys, unreadable JWK Set, no issuer)."""


@dataclass(frozen=True)
class JwtSettings:
    jwks: str  # a file path or an http(s) URL of a JWK Set
    issuers: tuple[str, ...]  # allowed ``iss`` values
    leeway: float = 30.0  # seconds of clock skew tolerated for exp/iat
    refresh_interval: float = 300.0  # a URL JWK Set is re-read at most this often on a new kid


@dataclass(frozen=True)
class _Key:
    jwk: Mapping[str, Any]
    algorithms: tuple[str, ...]


def key_algorithms(jwk: Mapping[str, Any]) -> tuple[str, ...]:
    """The asymmetric algorithms a JWK may verify; empty for symmetric or unknown keys."""
    kty, alg = jwk.get("kty"), jwk.get("alg")
    if kty == "RSA":
        family: tuple[str, ...] = RSA_ALGORITHMS
    elif kty == "EC" and jwk.get("crv") in EC_ALGORITHMS:
        family = (EC_ALGORITHMS[str(jwk["crv"])],)
    elif kty == "OKP" and jwk.get("crv") == "Ed25519":
        family = ("EdDSA",)
    else:
        return ()
    if alg is None:
        return family
    return (alg,) if alg in family else ()


class KeySet:
    """The trusted public keys by ``kid``, read from a file or URL (URLs re-read on a new kid)."""

    def __init__(self, source: str, *, refresh_interval: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.source = source
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._keys = self._load()
        self._loaded_at = clock()

    def get(self, kid: str) -> _Key | None:
        key = self._keys.get(kid)
        if key is None and self.source.startswith(URL_PREFIXES):
            with self._lock:
                if self._clock() - self._loaded_at >= self._refresh_interval:
                    self._loaded_at = self._clock()
                    try:
                        self._keys = self._load()
                    except AuthConfigError:
                        pass  # keep the keys we have; the token is refused below
            key = self._keys.get(kid)
        return key

    def _load(self) -> dict[str, _Key]:
        data = _read_jwks(self.source)
        keys = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(keys, list):
            raise AuthConfigError(f'{self.source}: not a JWK Set (expected {{"keys": [...]}})')
        found: dict[str, _Key] = {}
        for jwk in keys:
            if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
                continue
            algorithms = key_algorithms(jwk)
            if algorithms:
                found[jwk["kid"]] = _Key(jwk, algorithms)
        if not found:
            raise AuthConfigError(f"{self.source}: no usable asymmetric key with a 'kid'")
        return found


def _read_jwks(source: str) -> object:
    try:
        if source.startswith(URL_PREFIXES):
            request = urllib.request.Request(source, headers={"Accept": "application/json"})
            with urllib.request.urlopen(request, timeout=5) as response:
                text = response.read(1_000_000).decode("utf-8")
        else:
            text = Path(source).read_text(encoding="utf-8")
        return json.loads(text)
    except (OSError, ValueError) as exc:
        raise AuthConfigError(f"cannot read the JWK Set {source}: {exc}") from exc


class ReplayCache:
    """``(iss, jti)`` pairs seen, each kept until its token expires."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._purge_above = 1024

    def first_use(self, issuer: str, jti: str, expires: float) -> bool:
        """Record the pair; False when it was already recorded (a replay)."""
        now = self._clock()
        with self._lock:
            if len(self._seen) > self._purge_above:
                self._seen = {k: exp for k, exp in self._seen.items() if exp >= now}
                self._purge_above = max(1024, 2 * len(self._seen))
            known = self._seen.get((issuer, jti))
            if known is not None and known >= now:
                return False
            self._seen[(issuer, jti)] = expires
            return True

    def __len__(self) -> int:
        return len(self._seen)


class JwtVerifier:
    """Verifies CDS client tokens (see the module docstring)."""

    def __init__(self, settings: JwtSettings, *, keys: KeySet | None = None,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        if not settings.issuers:
            raise AuthConfigError("at least one allowed issuer (--issuer) is required")
        self.settings = settings
        self.keys = keys or KeySet(settings.jwks, refresh_interval=settings.refresh_interval)
        self.replays = ReplayCache(clock)
        self._clock = clock

    def verify(self, token: str, audience: str) -> dict[str, Any]:
        """The token's claims, or :class:`AuthError` saying why it is refused."""
        header = _header(token)
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in ASYMMETRIC:
            raise AuthError(f"algorithm {alg!r} is not allowed (asymmetric algorithms only)")
        if str(header.get("typ", "")).upper() != "JWT":
            raise AuthError("token type (typ) must be JWT")
        if not isinstance(kid, str):
            raise AuthError("token header has no key id (kid)")
        key = self.keys.get(kid)
        if key is None:
            raise AuthError(f"unknown key id {kid!r}")
        if alg not in key.algorithms:
            raise AuthError(f"algorithm {alg} does not fit key {kid!r}")
        claims = self._decode(token, key, alg, audience)
        if not self.replays.first_use(claims["iss"], str(claims["jti"]), float(claims["exp"])):
            raise AuthError("token already used (replayed jti)")
        return claims

    def _decode(self, token: str, key: _Key, alg: str, audience: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token, jwt.PyJWK(dict(key.jwk), algorithm=alg), algorithms=[alg],
                audience=audience, issuer=self.settings.issuers, leeway=self.settings.leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )  # fmt: skip
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthError("issuer (iss) is not allowed") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthError(f"audience (aud) must be {audience}") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"required claim missing: {exc.claim}") from exc
        except jwt.exceptions.InvalidJTIError as exc:
            raise AuthError("jti must be a non-empty string") from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise AuthError(f"invalid token: {type(exc).__name__}") from exc
        if not isinstance(claims.get("jti"), str) or not claims["jti"]:
            raise AuthError("jti must be a non-empty string")
        return claims


def _header(token: str) -> dict[str, Any]:
    try:
        header: dict[str, Any] = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise AuthError("malformed token") from exc
    return header


# --- request hardening ----------------------------------------------------------------------


def error_response(
    status: int,
    error: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """An :class:`~engine.service.models.ErrorBody` answer (401 adds ``WWW-Authenticate``)."""
    body = ErrorBody(error=error, message=message, **extra)
    head = dict(headers or {})
    if status == 401:
        head.setdefault("WWW-Authenticate", 'Bearer error="invalid_token"')
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=head)


class Guard:
    """ASGI middleware: body size limit (413), access log without patient data, no raw 500s."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app, self.limit = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [0]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        body = await self._read(scope, receive)
        if isinstance(body, JSONResponse):
            await body(scope, receive, sending)
        else:
            await self._call(scope, _replay(body, receive), sending, status)
        log.info(
            "%s %s %d %.1f ms",
            scope["method"],
            redact_path(scope["path"]),
            status[0],
            (time.perf_counter() - started) * 1000,
        )

    async def _read(self, scope: Scope, receive: Receive) -> bytes | JSONResponse:
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit():
            return error_response(400, "bad_request", "invalid Content-Length header")
        chunks, size, more = [], 0, int(declared) <= self.limit
        while more:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                break
            chunks.append(chunk)
            more = message.get("more_body", False)
        if int(declared) > self.limit or size > self.limit:
            return error_response(
                413, "payload_too_large", f"the request body is larger than {self.limit} bytes"
            )
        return b"".join(chunks)

    async def _call(self, scope: Scope, receive: Receive, send: Send, status: list[int]) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:  # noqa: BLE001 - logged by type only: messages may hold data
            log.error(
                "internal error %s on %s %s",
                type(exc).__name__,
                scope["method"],
                redact_path(scope["path"]),
            )
            if status[0] == 0:
                await error_response(500, "internal_error", "internal error")(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
