# SPDX-License-Identifier: Apache-2.0
"""The results-table options shared by ``leukodx batch`` and ``leukodx diagnose``.

Kept apart from :mod:`engine.cli.batch` so that ``diagnose`` can offer them without importing
the batch machinery (worker pool, reports, progress display) on every call; the table reader
itself (:mod:`engine.batch.tables`) is imported only when a table or a table option is given.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import InputError

if TYPE_CHECKING:
    from engine.batch.tables import TableSpec

#: Suffixes of patient and case files, which are never results tables: ``diagnose`` tells them
#: apart without importing the table reader.
PATIENT_SUFFIXES: tuple[str, ...] = (".yaml", ".yml", ".json")


def add_table_options(p: argparse.ArgumentParser) -> None:
    """The companion tables and column renames of a results table (``batch`` and ``diagnose``)."""
    p.add_argument(
        "--patients",
        metavar="FILE",
        help="table of patient_id, as_of, age, sex, duffy_null, ancestry (and bmi, wbc_trend, "
        "leukopenia_duration_days, expected, acceptable)",
    )
    p.add_argument(
        "--medications", metavar="FILE", help="table of patient_id, name, start, stop (and dose)"
    )
    p.add_argument(
        "--conditions",
        metavar="FILE",
        help="table of patient_id, kind (condition, finding or history), name, since, until "
        "(and present)",
    )
    p.add_argument(
        "--columns",
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="read a table's column OLD as NEW (repeat, or separate with commas)",
    )
    p.add_argument(
        "--skip-unknown-tests",
        action="store_true",
        help="list a results row whose test leukodx does not read (RDW, MCHC ...) in the case's "
        "ignored_inputs instead of failing its patient",
    )


def given(args: argparse.Namespace) -> bool:
    """Whether any table option (a companion table or a rename) was given."""
    return bool(args.patients or args.medications or args.conditions or args.columns
                or args.skip_unknown_tests)  # fmt: skip


def names_a_table(path: str) -> bool:
    """Whether ``path`` names a results table (``.csv``, ``.tsv``, ``.parquet``)."""
    if Path(path).suffix.lower() in PATIENT_SUFFIXES:
        return False
    from engine.batch.tables import is_table

    return is_table(path)


def table_spec(args: argparse.Namespace) -> TableSpec:
    """The :class:`TableSpec` of the table options; the companion files must exist."""
    from engine.batch.tables import TableSpec, parse_renames

    spec = TableSpec(
        patients=Path(args.patients) if args.patients else None,
        medications=Path(args.medications) if args.medications else None,
        conditions=Path(args.conditions) if args.conditions else None,
        renames=parse_renames(args.columns),
        skip_unknown_tests=args.skip_unknown_tests,
    )
    for kind, path in spec.companions():
        if not path.is_file():
            raise InputError(f"--{kind}", "no such file", got=str(path))
    return spec
