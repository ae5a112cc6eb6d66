# SPDX-License-Identifier: Apache-2.0
"""``leukodx serve``: refuses to start without client authentication unless told it is a local
prototype, reports unusable key sets with exit code 2, and hands a configured app to uvicorn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from engine.cli import main as cli  # noqa: E402
from tests.conftest import ROOT  # noqa: E402


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", "serve", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_refuses_to_start_without_authentication() -> None:
    result = serve()
    assert result.returncode == 2
    assert "--insecure-no-auth" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--jwks", "keys.json"),
        ("--issuer", "https://x"),
        ("--insecure-no-auth", "--issuer", "https://x"),
    ],
)
def test_incomplete_or_conflicting_auth_options(
    args: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve", *args]) == 2
    assert "--insecure-no-auth" in capsys.readouterr().err


def test_unreadable_key_set_is_exit_2(tmp_path: Path) -> None:
    result = serve("--jwks", str(tmp_path / "missing.json"), "--issuer", "https://x")
    assert result.returncode == 2
    assert "cannot read the JWK Set" in result.stderr and "Traceback" not in result.stderr


def test_serve_builds_the_app_and_runs_uvicorn(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    code = cli.main(
        [
            "serve",
            "--insecure-no-auth",
            "--port",
            "9999",
            "--workers",
            "1",
            "--cors-origin",
            "https://sandbox.example",
        ]
    )
    assert code == 0 and seen["port"] == 9999 and seen["host"] == "127.0.0.1"
    assert "leukodx" in seen["log_config"]["loggers"]
    assert {r.path for r in seen["app"].routes} >= {"/cds-services", "/diagnose"}
    assert "authentication is disabled" in capsys.readouterr().err


def test_missing_service_extra_is_explained(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert cli.main(["serve", "--insecure-no-auth"]) == 2
    assert "leukodx[service]" in capsys.readouterr().err
