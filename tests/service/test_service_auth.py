# SPDX-License-Identifier: Apache-2.0
"""engine.service.auth in process: key selection, JWK Sets from files and URLs, the replay cache,
token checks the HTTP tests do not reach, and the request guard (400/413/500 without data)."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

import httpx  # noqa: E402
import jwt  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from engine.service.auth import (  # noqa: E402
    AuthConfigError,
    AuthError,
    Guard,
    JwtSettings,
    JwtVerifier,
    KeySet,
    ReplayCache,
    key_algorithms,
)
from tests.service.conftest import ISSUER, Keys, b64  # noqa: E402

AUD = "https://cds.example.org/cds-services"


@pytest.mark.parametrize(("jwk", "algorithms"), [
    ({"kty": "RSA"}, ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")),
    ({"kty": "RSA", "alg": "RS384"}, ("RS384",)),
    ({"kty": "RSA", "alg": "HS256"}, ()),
    ({"kty": "EC", "crv": "P-384"}, ("ES384",)),
    ({"kty": "EC", "crv": "P-999"}, ()),
    ({"kty": "OKP", "crv": "Ed25519"}, ("EdDSA",)),
    ({"kty": "oct", "k": "c2VjcmV0"}, ()),
])  # fmt: skip
def test_only_asymmetric_keys_are_usable(jwk: dict[str, Any], algorithms: tuple[str, ...]) -> None:
    assert key_algorithms(jwk) == algorithms


def write(tmp_path: Path, data: object) -> str:
    path = tmp_path / "jwks.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


@pytest.mark.parametrize(
    "data", ["not json", {"keys": "x"}, {"keys": [{"kty": "oct", "kid": "a", "k": "c2VjcmV0"}]}]
)
def test_unusable_jwk_sets_are_refused(tmp_path: Path, data: object) -> None:
    with pytest.raises(AuthConfigError):
        KeySet(write(tmp_path, data))
    with pytest.raises(AuthConfigError):
        KeySet(str(tmp_path / "missing.json"))


def test_verifier_needs_an_issuer(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="issuer"):
        JwtVerifier(JwtSettings(write(tmp_path, Keys().jwks()), ()))


@pytest.fixture()
def jwks_server() -> Iterator[tuple[str, dict[str, Any]]]:
    state: dict[str, Any] = {"jwks": {"keys": []}, "hits": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            state["hits"] += 1
            body = json.dumps(state["jwks"]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks", state
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_url_key_set_is_reread_for_a_new_kid(jwks_server: tuple[str, dict[str, Any]]) -> None:
    url, state = jwks_server
    first, second = Keys(), Keys()
    state["jwks"] = first.jwks()
    now = [0.0]
    keys = KeySet(url, refresh_interval=60, clock=lambda: now[0])
    assert keys.get("ec-1") is not None and keys.get("rsa-2") is None
    renamed = second.jwks()
    renamed["keys"][1]["kid"] = "rsa-2"
    state["jwks"] = renamed
    assert keys.get("rsa-2") is None  # too soon to re-read
    now[0] = 61
    assert keys.get("rsa-2") is not None
    state["jwks"] = "broken"
    now[0] = 200
    assert keys.get("unknown") is None and keys.get("rsa-2") is not None  # keeps the old keys


def test_replay_cache_forgets_expired_tokens() -> None:
    now = [1000.0]
    cache = ReplayCache(clock=lambda: now[0])
    assert cache.first_use("iss", "a", 1100)
    assert not cache.first_use("iss", "a", 1100)
    assert cache.first_use("other", "a", 1100)
    now[0] = 1200
    assert cache.first_use("iss", "a", 1300)  # the first token had expired
    for i in range(1100):
        cache.first_use("iss", f"j{i}", 1250)
    now[0] = 1260
    for i in range(1000):
        cache.first_use("iss", f"k{i}", 1300)  # a purge drops the 1100 expired entries
    assert len(cache) < 1100


@pytest.fixture()
def verifier(tmp_path: Path) -> tuple[JwtVerifier, Keys]:
    keys = Keys()
    return JwtVerifier(JwtSettings(write(tmp_path, keys.jwks()), (ISSUER,))), keys


def test_header_checks(verifier: tuple[JwtVerifier, Keys]) -> None:
    check, keys = verifier
    claims = keys.claims(AUD)
    wrong_typ = jwt.encode(
        claims, keys.ec_key, algorithm="ES384", headers={"kid": "ec-1", "typ": "at+jwt"}
    )
    no_kid = jwt.encode(claims, keys.ec_key, algorithm="ES384", headers={"typ": "JWT"})
    for token, reason in (
        (wrong_typ, "typ"),
        (no_kid, "kid"),
        ("not-a-token", "malformed"),
        (keys.token(AUD, jti=7), "jti"),
        (keys.token("https://x"), "aud"),
    ):
        with pytest.raises(AuthError, match=reason):
            check.verify(token, AUD)
    forged = keys.token(AUD).rsplit(".", 1)[0] + "." + b64(b"x" * 96)
    with pytest.raises(AuthError, match="invalid token"):
        check.verify(forged, AUD)
    assert check.verify(keys.token(AUD), AUD)["iss"] == ISSUER


def test_eddsa_keys_work(tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    jwk["kid"] = "ed"
    check = JwtVerifier(JwtSettings(write(tmp_path, {"keys": [jwk]}), (ISSUER,)))
    now = int(time.time())
    token = jwt.encode(
        {"iss": ISSUER, "aud": AUD, "exp": now + 60, "iat": now, "jti": "1"},
        key,
        algorithm="EdDSA",
        headers={"kid": "ed", "typ": "JWT"},
    )
    assert check.verify(token, AUD)["jti"] == "1"


async def boom(request: Request) -> JSONResponse:
    raise RuntimeError("secret patient value 123")


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"size": len(await request.body())})


def guarded(method: str, path: str, **kwargs: Any) -> httpx.Response:
    app = Starlette(
        routes=[Route("/boom", boom), Route("/echo", echo, methods=["POST"])],
        middleware=[Middleware(Guard, max_body_bytes=100)],
    )  # as in create_app

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def test_guard_limits_bodies_and_hides_errors(caplog: pytest.LogCaptureFixture) -> None:
    assert guarded("POST", "/echo", content=b"x" * 100).json() == {"size": 100}
    assert guarded("POST", "/echo", content=b"x" * 101).status_code == 413

    async def chunks() -> Any:
        for _ in range(3):
            yield b"x" * 60

    assert guarded("POST", "/echo", content=chunks()).status_code == 413
    bad = guarded("POST", "/echo", content=b"x", headers={"Content-Length": "abc"})
    assert bad.status_code == 400
    with caplog.at_level("INFO", logger="leukodx.service"):
        failed = guarded("GET", "/boom")
    assert failed.status_code == 500 and failed.json()["error"] == "internal_error"
    assert "secret patient value" not in caplog.text + failed.text
    assert "RuntimeError" in caplog.text
