# SPDX-License-Identifier: Apache-2.0
"""docs/deployment.md, tested: the service started with exactly the ``ExecStart`` command of the
documented systemd unit (its paths and port swapped for the test's) answers the documented health
probe, refuses a call without a client JWT, logs in the documented format, and shuts down
cleanly on SIGTERM."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

from tests.conftest import ROOT  # noqa: E402
from tests.service.conftest import Keys, free_port  # noqa: E402

DOC = ROOT / "docs" / "deployment.md"


def documented_command() -> list[str]:
    [line] = [x for x in DOC.read_text().splitlines() if x.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


def test_the_documented_service_command_runs_as_documented(tmp_path: Path) -> None:
    command = documented_command()
    assert command[:2] == ["/opt/leukodx/bin/leukodx", "serve"]
    port = free_port()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(Keys().jwks()))
    swap = {"/etc/leukodx/jwks.json": str(jwks), "8080": str(port)}
    args = [swap.get(a, a) for a in command[2:]]
    assert "--insecure-no-auth" not in args and args[args.index("--host") + 1] == "127.0.0.1"
    log = tmp_path / "service.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve", *args], cwd=ROOT, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while True:  # the documented health probe
                assert process.poll() is None, log.read_text()
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            assert httpx.get(f"{base}/cds-services", timeout=5).status_code == 401
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=60)
    text = log.read_text()
    assert code in (0, -signal.SIGTERM), text  # uvicorn re-raises the signal once shut down
    for line in ("INFO:     Application startup complete.",
                 f"INFO:     Uvicorn running on http://127.0.0.1:{port}",
                 "INFO:     GET /healthz 200 ", "INFO:     GET /cds-services 401 ",
                 "WARNING:  401 on /cds-services", "INFO:     Application shutdown complete.",
                 "INFO:     Finished server process"):  # fmt: skip
        assert line in text, text
    assert "authentication is disabled" not in text
    assert all(x[:1].isupper() and ":" in x for x in text.splitlines() if x.strip()), text
