# SPDX-License-Identifier: Apache-2.0
"""Batch results as a flat table: one row per case, for CSV, Parquet and pandas.

A result line nests a differential of tens of kilobytes; most questions about a batch ("which
cases ranked one drug's cause first?", "how many critical alerts?") need one row per case. The row
of a case (:func:`flat_row`) is, in this order:

* ``id``, ``source_file``, ``ok``, ``error_field``, ``error_message`` (the last two for a case that
  failed);
* the columns of :meth:`engine.differential.Differential.to_record` (patient, alerts, the
  derived findings as ``fact=value`` text, the top ``k`` causes with score and probability,
  unknown drug names), empty for a failed case;
* ``drugs``: the known drugs of the case, ``;``-separated (from the result line's ``drugs``);
* with ``expected`` (when any case of the batch carries it): ``expected`` and ``acceptable``
  (``;``-separated), ``expected_rank`` (rank of the best-ranked expected cause, empty when none is
  listed), ``hit_top1`` and ``hit_top3`` (empty for a case without ``expected``).

:func:`write_table` streams the rows into ``.csv`` (booleans as ``true``/``false``, nothing as an
empty cell, a text cell that a spreadsheet would run as a formula behind a single quote:
:func:`neutralised`) or ``.parquet`` (typed columns; needs the ``parquet`` extra), one row group per
:data:`ROW_GROUP` cases, so a table of any size is written in bounded memory.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.batch.metrics import score
from engine.errors import InputError

if TYPE_CHECKING:
    from engine.differential import Scalar

    Value = Scalar | None

TABLE_OUTPUTS: tuple[str, ...] = (".csv", ".parquet")
ROW_GROUP = 1000
DEFAULT_TOP_K = 3

_HEAD: tuple[tuple[str, str], ...] = (
    ("id", "str"), ("source_file", "str"), ("ok", "bool"), ("error_field", "str"),
    ("error_message", "str"),
    ("patient_id", "str"), ("as_of", "str"), ("knowledge_base", "str"), ("backend", "str"),
    ("alerts", "str"), ("n_alerts", "int"), ("alert_level", "str"), ("findings", "str"),
    ("n_candidates", "int"),
)  # fmt: skip
_EXPECTED: tuple[tuple[str, str], ...] = (
    ("expected", "str"), ("acceptable", "str"), ("expected_rank", "int"), ("hit_top1", "bool"),
    ("hit_top3", "bool"),
)  # fmt: skip


def columns(top_k: int = DEFAULT_TOP_K, *, expected: bool = False) -> list[tuple[str, str]]:
    """``(name, type)`` of every column, type one of str, int, float, bool."""
    out = list(_HEAD)
    for k in range(1, top_k + 1):
        out += [(f"top{k}_cause", "str"), (f"top{k}_score", "float"),
                (f"top{k}_probability", "float")]  # fmt: skip
    out += [
        ("unknown_medications", "str"),
        ("n_ignored_inputs", "int"),
        ("ignored_inputs", "str"),
        ("drugs", "str"),
    ]
    return out + list(_EXPECTED) if expected else out


def flat_row(
    record: dict[str, Any], top_k: int = DEFAULT_TOP_K, *, expected: bool = False
) -> dict[str, Value]:
    """The table row of one result line (see the module doc)."""
    row: dict[str, Value] = dict.fromkeys(name for name, _ in columns(top_k, expected=expected))
    error = record.get("error") or {}
    row.update(id=record.get("id"), source_file=record.get("source_file"),
               ok=bool(record.get("ok")), error_field=error.get("field"),
               error_message=error.get("message"))  # fmt: skip
    if record.get("ok"):
        # imported here: ``leukodx batch`` loads this module for its options, and its main
        # process runs without pydantic unless a table is asked for
        from engine.differential import Differential

        row.update(Differential.model_validate(record["differential"]).to_record(top_k))
        drugs = dict.fromkeys(d.get("drug") for d in record.get("drugs") or [])
        row["drugs"] = ";".join(str(d) for d in drugs if d)
    if expected:
        sc = score(record)
        if sc.expected:
            row.update(expected=";".join(sc.expected), acceptable=";".join(sc.acceptable),
                       expected_rank=sc.rank, hit_top1=sc.rank == 1,
                       hit_top3=sc.rank is not None and sc.rank <= 3)  # fmt: skip
    return row


def flat_rows(
    records: Iterable[dict[str, Any]], top_k: int = DEFAULT_TOP_K, *, expected: bool = False
) -> Iterator[dict[str, Value]]:
    for record in records:
        yield flat_row(record, top_k, expected=expected)


def check_table_path(path: str | Path) -> None:
    """``--table`` must end in .csv or .parquet (checked before the run starts)."""
    if Path(path).suffix.lower() not in TABLE_OUTPUTS:
        raise InputError("--table", "unknown table format", got=str(path),
                         expected="a file name ending in .csv or .parquet")  # fmt: skip
    if Path(path).suffix.lower() == ".parquet":
        try:
            import pyarrow  # type: ignore[import-untyped]  # noqa: F401
        except ImportError:
            raise InputError("--table", "writing Parquet needs pyarrow",
                             expected="pip install 'leukodx[parquet]'") from None  # fmt: skip


def write_table(
    path: str | Path, records: Iterable[dict[str, Any]], top_k: int = DEFAULT_TOP_K, *,
    expected: bool = False,
) -> int:  # fmt: skip
    """Write the rows of ``records`` to ``path`` (.csv or .parquet); returns the row count.
    Raises OSError when the file cannot be written."""
    check_table_path(path)
    spec = columns(top_k, expected=expected)
    rows = flat_rows(records, top_k, expected=expected)
    if Path(path).suffix.lower() == ".parquet":
        return _write_parquet(Path(path), spec, rows)
    return _write_csv(Path(path), spec, rows)


def _write_csv(path: Path, spec: list[tuple[str, str]], rows: Iterator[dict[str, Value]]) -> int:
    n = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([name for name, _ in spec])
        for row in rows:
            writer.writerow([_csv_cell(row[name]) for name, _ in spec])
            n += 1
    return n


def _csv_cell(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return neutralised(str(value))


#: What a spreadsheet reads as the start of a formula in a cell (OWASP, "CSV injection").
FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def neutralised(text: str) -> str:
    """A text cell of the CSV table as a spreadsheet shows it, never as a formula: text that
    begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a single quote before
    it (a patient id ``=HYPERLINK(...)`` or a drug name ``=cmd|...`` from an upstream system ran
    as a formula in Excel or LibreOffice). A number (``-0.5``, ``+1``, ``-2e-3``) is left as it
    is, so numbers stay numbers."""
    if text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def _write_parquet(
    path: Path, spec: list[tuple[str, str]], rows: Iterator[dict[str, Value]]
) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
    schema = pa.schema([(name, types[kind]) for name, kind in spec])
    n = 0
    with pq.ParquetWriter(path, schema) as writer:
        batch: list[dict[str, Value]] = []
        for row in rows:
            batch.append({name: _typed(row[name], kind) for name, kind in spec})
            n += 1
            if len(batch) == ROW_GROUP:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        if batch or n == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    return n


def _typed(value: Value, kind: str) -> Value:
    """A value in its column's type (each column has one type; anything else is left empty
    rather than mistyped)."""
    if value is None:
        return None
    if kind == "str":
        return str(value)
    if kind == "bool":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if kind == "int" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None
