# SPDX-License-Identifier: Apache-2.0
"""engine/backends/experta_compat.py: experta imports on Python >= 3.10 without side effects."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from engine.backends import experta_compat


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_plain_import_fails_without_the_shim() -> None:
    """Documents why the module exists: frozendict 1.2 needs collections.Mapping."""
    result = run_python("import experta")
    if sys.version_info >= (3, 10):
        assert result.returncode != 0
        assert "collections" in result.stderr and "Mapping" in result.stderr


def test_shim_makes_experta_importable_and_leaves_logging_alone() -> None:
    result = run_python("""
        import logging
        from engine.backends.experta_compat import import_experta
        experta = import_experta()
        assert hasattr(experta, "KnowledgeEngine")
        assert logging.getLogger().handlers == [], logging.getLogger().handlers
        print("ok")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_aliases_point_at_collections_abc() -> None:
    import collections
    import collections.abc

    experta_compat.restore_collections_aliases()
    for name in experta_compat.REMOVED_ALIASES:
        assert getattr(collections, name) is getattr(collections.abc, name)
    assert experta_compat.restore_collections_aliases() == []


def test_engine_runs_chained_rules() -> None:
    experta = experta_compat.import_experta()

    class F(experta.Fact):  # type: ignore[misc]
        pass

    class E(experta.KnowledgeEngine):  # type: ignore[misc]
        @experta.Rule(F(a=1))
        def first(self) -> None:
            self.declare(F(b=2))

        @experta.Rule(F(b=2))
        def second(self) -> None:
            self.done = True

    e = E()
    e.reset()
    e.declare(F(a=1))
    e.run()
    assert e.done
