# SPDX-License-Identifier: Apache-2.0
"""The process that local batch workers are forked from, and starting it early.

Workers start from a fork server that has the engine imported (:mod:`engine.batch.pool`): forking
a worker then costs a few milliseconds instead of a fresh interpreter importing the engine. The
fork server itself is a fresh interpreter, and importing the engine there takes about 0.3 s. Started
when the pool is made, that 0.3 s came after the main process's own start (its imports, reading
the arguments, loading the knowledge base: another 0.3 s), so a batch spent about 0.6 s before its
first case, one worker or many; on a 3000-case run that fixed cost was a tenth of the gap between
the two-worker speed-up and its ceiling. :func:`start_early`, called by the console script before
it imports the command line, lets the two start-ups run side by side. This module imports only
:mod:`multiprocessing`.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Sequence
from typing import Any

#: What the fork server imports before it forks a worker.
PRELOAD: list[str] = ["engine.batch.worker"]


def context() -> Any:
    """The multiprocessing context local workers are started from: the fork server where the
    platform has one, otherwise fresh interpreters."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return mp.get_context("spawn")  # pragma: no cover - platforms without fork


def wants_local_workers(args: Sequence[str]) -> bool:
    """Whether a ``leukodx`` command line (without the program name) is a batch run that will
    start local workers: not help, not the Dask executor. A wrong guess costs only time: an
    unused fork server exits with the main process, and a pool starts one if none is running."""
    if not args or args[0] != "batch":
        return False
    rest = list(args[1:])
    if "-h" in rest or "--help" in rest or "--executor=dask" in rest:
        return False
    return not any(a == "--executor" and b == "dask" for a, b in zip(rest, rest[1:], strict=False))


def start_early(args: Sequence[str]) -> bool:
    """Start the fork server now when ``args`` is a batch run with local workers (see the
    module's docstring); whether it was started. Never raises: the pool starts it otherwise."""
    if not wants_local_workers(args) or "forkserver" not in mp.get_all_start_methods():
        return False
    from multiprocessing import forkserver

    try:
        context()
        forkserver.ensure_running()
    except (OSError, ValueError, RuntimeError):  # pragma: no cover - the pool tries again, and says
        return False
    return True
