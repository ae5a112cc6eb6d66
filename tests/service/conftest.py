# SPDX-License-Identifier: Apache-2.0
"""Fixtures of the service tests: keys made at test time, a JWK Set file, token minting, real
``leukodx serve`` processes on free loopback ports, and checks every CDS response must pass."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("jwt")
pytest.importorskip("httpx")

import httpx  # noqa: E402
import jwt  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402

from engine.differential import DISCLAIMER  # noqa: E402
from engine.service.models import Card  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

EXAMPLES = ROOT / "examples" / "cds"
ISSUER = "https://ehr.example.org"
STARTUP_SECONDS = 90


def load_example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return data


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Keys:
    """An ES384 and an RS384 client key pair; the public halves form the service's JWK Set."""

    ec_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP384R1())
    )
    rsa_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def jwks(self) -> dict[str, Any]:
        ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec_key.public_key()))
        rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa_key.public_key()))
        ec_jwk.update(kid="ec-1", use="sig", alg="ES384")
        rsa_jwk.update(kid="rsa-1", use="sig")
        return {"keys": [ec_jwk, rsa_jwk]}

    def claims(self, aud: str | list[str], **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def token(
        self, aud: str | list[str], *, alg: str = "ES384", kid: str | None = None, **changes: Any
    ) -> str:
        key = self.ec_key if alg.startswith("ES") else self.rsa_key
        kid = kid or ("ec-1" if alg.startswith("ES") else "rsa-1")
        return jwt.encode(
            self.claims(aud, **changes), key, algorithm=alg, headers={"kid": kid, "typ": "JWT"}
        )

    def unsigned(self, aud: str) -> str:
        """A token with ``alg: none`` (built by hand: libraries rightly refuse to make one)."""
        header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "ec-1"}).encode())
        return f"{header}.{b64(json.dumps(self.claims(aud)).encode())}."


@dataclass
class Server:
    """A ``python -m engine serve`` process; its log (stderr) is kept for inspection."""

    base: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: BinaryIO

    def url(self, path: str) -> str:
        return self.base + path

    def aud(self, path: str) -> str:
        return self.url(path)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.url(path), timeout=60, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class InProcess:
    """The same app called in process (ASGI); ``public_url`` is what clients put in ``aud``."""

    app: Any
    public_url: str

    def aud(self, path: str) -> str:
        return self.public_url + path

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                response: httpx.Response = await c.request(method, path, **kwargs)
                return response

        return asyncio.run(go())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(log_path: Path, *args: str, in_process: bool = True) -> Server:
    """A real ``leukodx serve`` on 127.0.0.1. Hook calls are answered in the server process
    (``--processes 0``) unless the caller passes ``--processes`` or ``in_process=False`` (the
    CLI's default): most tests are about the HTTP side, and test_processes.py covers the worker
    processes, including that default."""
    if in_process and "--processes" not in args:
        args = (*args, "--processes", "0")
    port = free_port()
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--host", "127.0.0.1", "--port", str(port),
         *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}", process, log_path, log)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.close()
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
        try:
            status = httpx.get(server.url("/openapi.json"), timeout=2).status_code
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        if status == 200:
            return server
        stop_server(server)
        raise RuntimeError(f"GET /openapi.json answered {status}:\n{server.log()}")
    stop_server(server)
    raise RuntimeError(f"server did not start within {STARTUP_SECONDS} s:\n{server.log()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=20)
    finally:
        server.log_file.close()


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="session")
def jwks_file(keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps(keys.jwks()))
    return path


@pytest.fixture(scope="session")
def insecure_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("serve") / "insecure.log", "--insecure-no-auth")
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def jwt_server(jwks_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(
        tmp_path_factory.mktemp("serve") / "jwt.log", "--jwks", str(jwks_file), "--issuer", ISSUER
    )
    yield server
    stop_server(server)


def assert_no_empty_values(value: Any, where: str = "response") -> None:
    """CDS Hooks: no null, "", [] or {} anywhere (optional fields are omitted instead)."""
    assert value is not None and value != "" and value != {}, f"{where} is empty"
    if isinstance(value, dict):
        for key, item in value.items():
            assert_no_empty_values(item, f"{where}.{key}")
    elif isinstance(value, list):
        assert value or where.endswith(".cards"), f"{where} is an empty list"
        for i, item in enumerate(value):
            assert_no_empty_values(item, f"{where}[{i}]")


MARKER = re.compile(r"\[\[(\d+)\]\]\((https?://[^)\s]+)\)")
CLAIM_LINES = ("- For", "- Against", "- Next step", "- Evidence", "- **")


def check_card(card: dict[str, Any], kb_label: str) -> Card:
    """Spec shape, the source, the disclaimer, and a linked source for every claim."""
    model = Card.model_validate(card)
    assert model.uuid and len(model.summary) < 140
    assert model.source.label == kb_label
    assert model.detail is not None and DISCLAIMER in model.detail
    lines = model.detail.splitlines()
    refs = [line for line in lines if re.match(r"\d+\. ", line)]
    for number, line in enumerate(refs, start=1):
        assert line.startswith(f"{number}. ") and re.search(r"\]\(https?://|<https?://", line)
    for line in lines:
        if line.startswith(CLAIM_LINES):
            assert MARKER.search(line), f"claim without a linked source: {line}"
        for number, _ in MARKER.findall(line):
            assert 1 <= int(number) <= len(refs)
    if refs:
        assert model.source.url and model.source.url.startswith(("https://", "http://"))
    return model
