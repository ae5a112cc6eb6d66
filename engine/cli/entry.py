# SPDX-License-Identifier: Apache-2.0
"""The ``leukodx`` console script: ``--version`` answers at once, anything else loads the CLI.

``leukodx --version`` is what installers, package managers and support scripts call; importing the
whole command line (pydantic models, the knowledge-base loader, every subcommand) for it made it
cost five times a bare ``import pydantic, yaml``. This module imports nothing heavy.

A one-shot command (``diagnose``, ``lint``) run as the console script also tunes the cyclic
garbage collector, because a cold ``leukodx diagnose`` allocates hundreds of thousands of
long-lived objects (modules, pydantic models, the unpickled knowledge base) and little garbage:
collecting after every 700 allocations, and once more over everything at exit, was about a third
of its CPU time. Such a command collects only every :data:`GC_THRESHOLD` allocations, and the
heap is frozen before the interpreter exits (nothing is left to collect then; memory returns to
the system with the process). Long-running commands (``batch``, ``serve``) and in-process calls
with an explicit ``argv`` keep Python's defaults.

``leukodx batch`` run as the console script starts its workers' fork server first thing
(:mod:`engine.batch.forkserver`), so that the server's import of the engine overlaps the command
line's own, and freezes the heap when it is done too: it keeps Python's collector settings while it
runs, but the final collection over the knowledge base it loaded held its exit up by about 0.1 s.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence

from engine.version import __version__

#: Commands that run once and exit, for which the collector is tuned (see the module docstring).
ONE_SHOT: frozenset[str] = frozenset({"diagnose", "lint"})
#: Allocations between two young-generation collections for a one-shot command (Python: 700).
GC_THRESHOLD = 100_000


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        print(f"leukodx {__version__}")
        return 0
    if argv is not None or not args or args[0] not in (*ONE_SHOT, "batch"):
        return _run(args)
    if args[0] == "batch":
        from engine.batch.forkserver import start_early

        start_early(args)  # the workers' fork server imports the engine while the CLI loads
    else:
        gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    try:
        return _run(args)
    finally:
        gc.freeze()  # the process ends next: exit need not walk every object


def _run(args: list[str]) -> int:
    from engine.cli.main import main as run  # the whole command line

    return run(args)
