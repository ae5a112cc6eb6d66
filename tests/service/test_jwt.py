# SPDX-License-Identifier: Apache-2.0
"""Client authentication (CDS Hooks 2.0 JWT) against a real ``leukodx serve --jwks --issuer`` and,
for the same cases, the app in process behind a configured public URL: a valid token passes; a
wrong issuer, an HMAC or ``none`` token, an expired token, a replay, a wrong audience, an unknown
key and a missing token get 401. Keys are generated at test time."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.service.app import create_app
from engine.service.auth import JwtSettings
from engine.service.hooks import ServiceSettings
from engine.service.models import ErrorBody, Services
from tests.service.conftest import ISSUER, InProcess, Keys, Server, b64, load_example

PV = "/cds-services/leukodx-patient-view"
Target = Server | InProcess


@pytest.fixture(scope="module")
def in_process(jwks_file: Path) -> InProcess:
    settings = ServiceSettings(
        auth=JwtSettings(str(jwks_file), (ISSUER,)),
        workers=1,
        public_url="https://cds.example.org/",
    )
    return InProcess(create_app(settings), "https://cds.example.org")


@pytest.fixture(params=["server", "in-process"])
def target(request: pytest.FixtureRequest) -> Target:
    name = "jwt_server" if request.param == "server" else "in_process"
    found: Target = request.getfixturevalue(name)
    return found


def get(target: Target, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return target.request("GET", path, headers=headers)


def post(target: Target, path: str, token: str | None, body: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return target.request("POST", path, json=body, headers=headers)


def assert_401(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert reason in ErrorBody.model_validate(response.json()).message


def hs256(claims: dict[str, Any], secret: bytes) -> str:
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "ec-1"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(signature)}"


def test_valid_tokens_are_accepted(target: Target, keys: Keys) -> None:
    discovery = target.aud("/cds-services")
    response = get(target, "/cds-services", keys.token(discovery))
    assert response.status_code == 200, response.text
    Services.model_validate(response.json())
    rsa = keys.token(target.aud(PV), alg="RS384")
    answer = post(target, PV, rsa, load_example("patient-view.json"))
    assert answer.status_code == 200, answer.text
    listed = keys.token([discovery, "https://other.example"])  # aud may be a list
    assert get(target, "/cds-services", listed).status_code == 200


def test_wrong_issuer_is_refused(target: Target, keys: Keys) -> None:
    token = keys.token(target.aud("/cds-services"), iss="https://intruder.example")
    assert_401(get(target, "/cds-services", token), "issuer")


@pytest.mark.parametrize("secret", [b"a-shared-secret-of-at-least-32-bytes!", b"public-key"])
def test_hmac_tokens_are_refused(target: Target, keys: Keys, secret: bytes) -> None:
    if secret == b"public-key":  # the algorithm-confusion attack: the public key as HMAC secret
        secret = json.dumps(keys.jwks()["keys"][0]).encode()
    token = hs256(keys.claims(target.aud("/cds-services")), secret)
    assert_401(get(target, "/cds-services", token), "HS256")


def test_unsigned_token_is_refused(target: Target, keys: Keys) -> None:
    assert_401(get(target, "/cds-services", keys.unsigned(target.aud("/cds-services"))), "'none'")


def test_expired_token_is_refused(target: Target, keys: Keys) -> None:
    token = keys.token(target.aud("/cds-services"), exp=1_600_000_000, iat=1_599_999_000)
    assert_401(get(target, "/cds-services", token), "expired")


def test_replayed_token_is_refused(target: Target, keys: Keys) -> None:
    token = keys.token(target.aud("/cds-services"))
    assert get(target, "/cds-services", token).status_code == 200
    assert_401(get(target, "/cds-services", token), "replayed")


def test_token_for_another_endpoint_is_refused(target: Target, keys: Keys) -> None:
    token = keys.token(target.aud("/cds-services"))
    assert_401(post(target, PV, token, load_example("patient-view.json")), "audience")


@pytest.mark.parametrize(("change", "reason"), [
    ({"kid": "nobody"}, "unknown key id"),
    ({"jti": None}, "jti"),
    ({"alg": "RS384", "kid": "ec-1"}, "does not fit"),
])  # fmt: skip
def test_bad_header_or_claims_are_refused(
    target: Target, keys: Keys, change: dict[str, Any], reason: str
) -> None:
    token = keys.token(target.aud("/cds-services"), **change)
    assert_401(get(target, "/cds-services", token), reason)


def test_missing_token_is_refused_but_openapi_is_public(target: Target) -> None:
    assert_401(get(target, "/cds-services", None), "missing")
    assert_401(post(target, "/diagnose", None, {"wbc": 3.0}), "missing")
    assert get(target, "/openapi.json", None).status_code == 200

    if isinstance(target, Server):
        assert "AUTHENTICATION DISABLED" not in target.log()
