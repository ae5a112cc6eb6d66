# SPDX-License-Identifier: Apache-2.0
"""Batch evaluation: many cases in, one JSON line per case out, with summary metrics.

:mod:`engine.batch.run` drives a run, :mod:`engine.batch.cases` lists and reads inputs and writes
records, :mod:`engine.batch.worker` reads and evaluates one chunk (:mod:`engine.batch.messages`
is what it answers), :mod:`engine.batch.pool` and :mod:`engine.batch.cluster` run workers
locally or on Dask, :mod:`engine.batch.ledger` admits ids in input order and writes each line,
:mod:`engine.batch.metrics` scores results against ``expected`` (from the small records of
:mod:`engine.batch.slim` while the run goes).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.batch.run import BatchOptions, BatchStats, run_batch

__all__ = ["BatchOptions", "BatchStats", "run_batch"]


def __getattr__(name: str) -> Any:
    """The run's names load on first use (PEP 562): ``engine.batch.tables`` and the other
    readers are imported by ``leukodx diagnose`` too, which must not pay for the worker pool."""
    if name not in __all__:
        raise AttributeError(f"module 'engine.batch' has no attribute {name!r}")
    value = getattr(importlib.import_module("engine.batch.run"), name)
    globals()[name] = value
    return value
