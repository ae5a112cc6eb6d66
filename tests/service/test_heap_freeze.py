# SPDX-License-Identifier: Apache-2.0
"""``leukodx serve`` freezes its long-lived objects once warmed up (engine/heap.py), as its worker
processes do, so that hook calls answered in the server process (``--processes 0``, the default
on one core) do not pay for collections that walk the knowledge base; an application embedding
``create_app`` keeps its heap as it is. Each app runs its lifespan in a fresh interpreter, so
that this test process's own heap is never frozen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main as cli
from engine.service.hooks import ServiceSettings

pytest.importorskip("uvicorn")
ROOT = Path(__file__).resolve().parents[2]

LIFESPAN = """
import asyncio, gc, sys
from engine.service.app import create_app
from engine.service.hooks import ServiceSettings

async def main() -> None:
    app = create_app(ServiceSettings(workers=1, freeze_heap=sys.argv[1] == "on"))
    before = gc.get_freeze_count()
    async with app.router.lifespan_context(app):
        print(before, gc.get_freeze_count())

asyncio.run(main())
"""


@pytest.mark.parametrize("freeze", ["on", "off"])
def test_the_lifespan_freezes_the_heap_only_when_asked(freeze: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LIFESPAN, freeze], capture_output=True, text=True, cwd=ROOT,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    before, after = (int(x) for x in done.stdout.split())
    assert before == 0
    assert (after > 0) == (freeze == "on")
    if freeze == "on":
        assert after > 100_000  # the knowledge base and the compiled engine, not a handful


def test_an_embedded_app_does_not_freeze_by_default() -> None:
    assert ServiceSettings().freeze_heap is False


def test_leukodx_serve_asks_for_the_freeze(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    import engine.service.app as service_app

    seen: dict[str, Any] = {}
    build = service_app.create_app

    def capture(settings: ServiceSettings, **kwargs: Any) -> Any:
        seen["settings"] = settings
        return build(settings, **kwargs)

    monkeypatch.setattr(service_app, "create_app", capture)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: None)
    assert cli.main(["serve", "--insecure-no-auth", "--processes", "0", "--workers", "1"]) == 0
    assert seen["settings"].freeze_heap is True and seen["settings"].processes == 0
