# SPDX-License-Identifier: Apache-2.0
"""A batch as a pandas DataFrame, one row per case (extra ``pandas``).

For analysts who work in pandas: ``to_dataframe("results.jsonl")`` gives the rows of
:mod:`engine.batch.flat` (the same columns as ``leukodx batch --table``) without
``json_normalize``. pandas is imported only here, so the rest of leukodx does not need it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engine.batch.flat import DEFAULT_TOP_K, columns, flat_rows
from engine.batch.metrics import iter_records
from engine.errors import LeukodxError


def to_dataframe(
    results: str | Path | Iterable[dict[str, Any]], top_k: int = DEFAULT_TOP_K, *,
    expected: bool | None = None,
) -> Any:  # fmt: skip
    """One row per case of a batch: ``results`` is a batch output file (JSONL) or its parsed
    result lines. ``expected=None`` adds the expected/hit columns when any case carries
    ``expected``. Raises :class:`~engine.errors.LeukodxError` when pandas is not installed."""
    try:
        import pandas as pd  # type: ignore[import-untyped]
    except ImportError:
        raise LeukodxError("to_dataframe needs pandas: pip install 'leukodx[pandas]'") from None
    records = list(iter_records(results) if isinstance(results, (str, Path)) else results)
    if expected is None:
        expected = any(r.get("expected") for r in records)
    names = [name for name, _ in columns(top_k, expected=expected)]
    rows = list(flat_rows(records, top_k, expected=expected))
    return pd.DataFrame.from_records(rows, columns=names)
