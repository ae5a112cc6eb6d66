# SPDX-License-Identifier: Apache-2.0
"""Batch evaluation: many cases in, one JSON line per case out, with summary metrics.

:mod:`engine.batch.run` drives a run, :mod:`engine.batch.cases` reads inputs and writes records,
:mod:`engine.batch.worker` evaluates one chunk, :mod:`engine.batch.pool` and
:mod:`engine.batch.cluster` run workers locally or on Dask, :mod:`engine.batch.metrics` scores
results against ``expected``.
"""

from engine.batch.run import BatchOptions, BatchStats, run_batch

__all__ = ["BatchOptions", "BatchStats", "run_batch"]
