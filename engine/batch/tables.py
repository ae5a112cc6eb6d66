# SPDX-License-Identifier: Apache-2.0
"""Reading lab exports: CSV, TSV and Parquet tables, one row at a time.

Lab data leaves hospital systems as tables with one row per result, not as one document per
patient. This module reads such a table row by row (never the whole file) and hands each row on
as a :class:`Row` whose cells are already the values a YAML case file would hold: numbers as
``int``/``float``, dates as ``YYYY-MM-DD`` text, booleans as ``bool``, lists as lists, missing
cells as ``None``. Nothing is guessed: a cell that is not a number, a date or a boolean where one
is expected is passed on as the text it was, so that the same validation as for case files
(:func:`engine.patient.parse_patient`) refuses it and names it; the caller maps that error back to
the file, line and column (:mod:`engine.batch.grouping`).

The four tables and their columns (``--columns old=new`` renames a file's own column names):

============ =============================== ==================================================
table        required columns                optional columns
============ =============================== ==================================================
results      patient_id, test, value, date   unit, comparator
patients     patient_id                      as_of, age, sex, duffy_null, ancestry, bmi,
                                             wbc_trend, leukopenia_duration_days, expected,
                                             acceptable
medications  patient_id, name                start, stop, dose
conditions   patient_id, kind, name          since, until, present
============ =============================== ==================================================

Header names are matched ignoring case, and spaces or hyphens for underscores (``Patient ID`` is
``patient_id``). Columns that are not in this table are not read, except that a column that looks
like one of the table's optional columns (``Comparater``, ``stop_date``) is refused rather than left
unread, and a results row read as an exact value (no comparator) whose unread cell begins with a
comparison sign (``<``, ``< L``, ``<0.5``: a sign followed by nothing, a space, a letter or a
number) fails its patient, naming the column; a sign inside text ("ANC was < 1") and a column named
as a reference range or limit (``Reference Range`` ``<5``) are not looked at. ``comparator`` is the
contract's bound of a result reported as one (``<``, ``<=``, ``>``, ``>=``; empty for an exact
value): ``anc`` 0.5 with ``<`` is "below 0.5", which decides the alert thresholds as in a case file.
A value written with its sign (``<0.5``, ``≥ 400``) is that bound when the row gives no comparator,
and ``=`` in the comparator column marks an exact value. What a cell may hold:

* dates: ``YYYY-MM-DD``; a timestamp (``2025-02-10T08:30:00``, ``2025-02-10 08:30``, with an
  optional zone) counts as the date written in it (days are the engine's resolution);
* numbers: plain decimal literals (``2700``, ``0.8``, ``1e3``); a result value with its sign
  (``<0.5``) is a bound (above); anything else (``3,1``, ``NaN``) stays text and is refused where a
  number is needed;
* booleans (``duffy_null``, ``present``): ``true``/``false``, ``yes``/``no``, ``1``/``0``;
* lists (``ancestry``, ``expected``, ``acceptable``): items separated by ``;``, ``,`` or ``|``.

CSV files are read as UTF-8 (a byte-order mark is allowed); a cell that is not valid UTF-8 is an
error naming its line and column. A cell may be as long as a line; a line longer than
:data:`MAX_LINE_BYTES` is not read: it fails its patient (the id is taken from the start of the
line) like any bad row, and memory stays bounded by that length. A record that is not valid CSV (an
unbalanced quote runs on to the next quote or the end of the file), or a record over several lines
whose fields do not fit the header or whose read cells hold a line break (a quote closed lines
later, the rows between swallowed into one cell), does not stop the file: every line it spans is
left unread and fails the patient whose id starts that line (a line whose id cannot be read whole is
an error row without an id), and reading goes on from the next line, so a patient with a row in the
broken record is never read on its other rows. Parquet needs the ``parquet`` extra (pyarrow); its
rows are numbered from 1 and read in batches of :data:`PARQUET_BATCH` rows. A row's ``line`` is the
line number in the file (the header is line 1) for CSV and TSV, and the row number for Parquet.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import functools
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from engine import units
from engine.errors import InputError
from engine.instants import instant_of
from engine.vocab import COUNT_TESTS, suggest

CSV_SUFFIXES: tuple[str, ...] = (".csv", ".tsv")
PARQUET_SUFFIXES: tuple[str, ...] = (".parquet", ".pq")
TABLE_SUFFIXES: tuple[str, ...] = CSV_SUFFIXES + PARQUET_SUFFIXES
PARQUET_BATCH = 1024
#: The longest line read (a free-text column of an export can hold a long report); a longer line
#: is an error of its row, never read into memory whole.
MAX_LINE_BYTES = 10 * 1024 * 1024
#: How much of a too-long line is kept to find its patient id.
_LONG_LINE_HEAD = 64 * 1024

RESULTS, PATIENTS, MEDICATIONS, CONDITIONS = "results", "patients", "medications", "conditions"
#: table -> (required columns, optional columns)
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    RESULTS: (("patient_id", "test", "value", "date"), ("unit", "comparator")),
    PATIENTS: (
        ("patient_id",),
        (
            "as_of",
            "age",
            "sex",
            "duffy_null",
            "ancestry",
            "bmi",
            "wbc_trend",
            "leukopenia_duration_days",
            "expected",
            "acceptable",
        ),
    ),  # fmt: skip
    MEDICATIONS: (("patient_id", "name"), ("start", "stop", "dose")),
    CONDITIONS: (("patient_id", "kind", "name"), ("since", "until", "present")),
}
ALL_COLUMNS: tuple[str, ...] = tuple(
    sorted({c for required, optional in COLUMNS.values() for c in (*required, *optional)})
)
#: What each column's cells are read as; every other column is text.
_DATES = {"date", "as_of", "start", "stop", "since", "until"}
_NUMBERS = {"value", "age", "bmi", "leukopenia_duration_days", "dose"}
_BOOLEANS = {"duffy_null", "present"}
_LISTS = {"ancestry", "expected", "acceptable"}

Cell = str | int | float | bool | list[str] | None

# ASCII digits only: "４００" or "٤٠٠" is not a plain decimal literal (refused, as in a case file)
_INT = re.compile(r"[+-]?\d+", re.ASCII)
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", re.ASCII)
_DATE = re.compile(
    r"(\d{4}-\d{2}-\d{2})([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?",
    re.ASCII,
)
_TRUE, _FALSE = {"true", "yes", "1", "y", "t"}, {"false", "no", "0", "n", "f"}
_SPLIT = re.compile(r"[;,|]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass(frozen=True)
class TableSpec:
    """The companion tables of a run and the column renames, as given on the command line."""

    patients: Path | None = None
    medications: Path | None = None
    conditions: Path | None = None
    renames: Mapping[str, str] = field(default_factory=dict)
    #: ``--skip-unknown-tests``: a results row whose test leukodx does not read (RDW, MCHC) is
    #: listed in the case's ``ignored_inputs`` instead of failing its patient
    skip_unknown_tests: bool = False

    def companions(self) -> list[tuple[str, Path]]:
        """``(table kind, path)`` of every companion table given."""
        given = ((PATIENTS, self.patients), (MEDICATIONS, self.medications),
                 (CONDITIONS, self.conditions))  # fmt: skip
        return [(kind, Path(p)) for kind, p in given if p is not None]

    @property
    def given(self) -> bool:
        return bool(self.companions() or self.renames)


class TableError(InputError):
    """A table that cannot be read at all (no such column, not a table, a broken file)."""


@dataclass(frozen=True)
class Row:
    """One data row: its line (CSV/TSV) or row number (Parquet), and its cells by canonical
    column name. ``error`` is ``(column, message)`` when a cell could not be read at all."""

    line: int
    cells: dict[str, Cell]
    error: tuple[str | None, str] | None = None

    @property
    def patient_id(self) -> str | None:
        value = self.cells.get("patient_id")
        return value if isinstance(value, str) else None


def is_table(path: str | Path) -> bool:
    return Path(path).suffix.lower() in TABLE_SUFFIXES


def parse_renames(items: Iterable[str]) -> dict[str, str]:
    """``["MRN=patient_id", "Result=value,Units=unit"]`` -> ``{"MRN": "patient_id", ...}``.

    Every target must be a column of some table (a typo gets a did-you-mean); a file column may
    be renamed once."""
    out: dict[str, str] = {}
    for item in items:
        for part in (p for p in item.split(",") if p.strip()):
            old, eq, new = part.partition("=")
            old, new = old.strip(), new.strip()
            if not eq or not old or not new:
                raise InputError("--columns", "a rename is OLD=NEW", got=part)
            if new not in ALL_COLUMNS:
                raise InputError(
                    "--columns",
                    f"unknown column '{new}'",
                    expected="one of " + ", ".join(ALL_COLUMNS),
                    suggestion=suggest(new, ALL_COLUMNS),
                )
            if out.get(old, new) != new:
                raise InputError("--columns", f"column '{old}' renamed twice", got=part)
            out[old] = new
    return out


class Table:
    """One table file of one kind; :meth:`rows` reads it from the start each time it is called.

    The header is read (and checked) when the table is made: :class:`TableError` names a missing
    required column, a column given twice, or a file that is not a table."""

    def __init__(
        self, path: str | Path, kind: str, renames: Mapping[str, str] | None = None,
        *, skip_unknown_tests: bool = False,
    ) -> None:  # fmt: skip
        self.skip_unknown_tests = skip_unknown_tests
        self.path = Path(path)
        self.kind = kind
        self.name = str(path)
        self.renames = dict(renames or {})
        self.parquet = self.path.suffix.lower() in PARQUET_SUFFIXES
        header = self._parquet_header() if self.parquet else self._csv_header()
        self.header = [h.strip() for h in header]
        self.columns = self._map_header(header)  # canonical name -> index (CSV) / file column

    # -- where ---------------------------------------------------------------------------------
    def at(self, line: int) -> str:
        """``results.csv:57`` or ``results.parquet row 56``: where a row is, for messages."""
        return f"{self.name} row {line}" if self.parquet else f"{self.name}:{line}"

    def column_name(self, column: str) -> str:
        """The file's own name of a canonical column (as renamed with ``--columns``)."""
        original = self.columns.get(column)
        return original[0] if original else column

    # -- header ----------------------------------------------------------------------------------
    def _map_header(self, header: list[str]) -> dict[str, tuple[str, int]]:
        required, optional = COLUMNS[self.kind]
        wanted = set(required) | set(optional)
        out: dict[str, tuple[str, int]] = {}
        unread: list[tuple[str, int]] = []
        for index, raw in enumerate(header):
            name = raw.strip()
            canonical = self.renames.get(name) or (name if name in wanted else _normal(name))
            if canonical not in wanted:
                unread.append((name, index))
                continue
            if canonical in out:
                raise TableError(
                    self.name,
                    f"column '{canonical}' appears twice (as '{out[canonical][0]}' and '{name}')",
                    expected="each column once",
                )
            out[canonical] = (name, index)
        missing = [c for c in required if c not in out]
        if missing:
            names = [h.strip() for h in header]
            shown = ", ".join(names[:20]) or "nothing"
            problem = (
                f"the {self.kind} table has no column '{missing[0]}' (its header has: {shown})"
            )
            if len(names) == 1 and (sep := next((c for c in ";\t|," if c in names[0]), None)):
                problem += f"; its fields look separated by {sep!r}, not {self._delimiter()!r}"
            typo = [old for old, new in self.renames.items() if new == missing[0]]
            suggestion = suggest(missing[0], names)
            if typo and typo[0] not in names:  # --columns MRNX=patient_id, the header has MRN
                problem += f"; --columns renames '{typo[0]}', which this header does not have"
                suggestion = suggest(typo[0], names) or suggestion
            raise TableError(
                self.name,
                problem,
                expected=f"columns {', '.join(required)}; rename others with --columns OLD=NEW",
                suggestion=suggestion,
            )
        self._check_unread(unread, [c for c in optional if c not in out])
        # a comparison sign at the start of a column that is not read would turn "<0.5" into
        # exactly 0.5; a reference range ("<5" for a CRP) bounds no result and is not looked at
        self.has_comparator = "comparator" in out
        self.sign_columns = (
            [(n, i) for n, i in unread if not _is_range_column(n)] if self.kind == RESULTS else []
        )
        return out

    def _check_unread(self, unread: list[tuple[str, int]], absent: list[str]) -> None:
        """A column that is not read but looks like one of this table's optional columns
        (``Comparater``, ``stop_date``) is refused: read as absent, a stop date or a bound
        would be lost in silence."""
        for name, _ in unread:
            normal = _normal(name)
            stems = [c for c in absent if normal.startswith(c + "_") or normal.endswith("_" + c)]
            named = [c for c in absent if normal in LOOKALIKES.get(self.kind, {}).get(c, ())]
            close = named or stems or difflib.get_close_matches(normal, absent, n=1, cutoff=0.85)
            if close:
                raise TableError(
                    self.name,
                    f"column '{name}' is not one of the {self.kind} table's columns, but looks "
                    f"like '{close[0]}', which it would leave unread",
                    expected=f"the column named '{close[0]}' (rename with --columns "
                    f"'{name}={close[0]}'), or the column removed",
                )

    def _csv_header(self) -> list[str]:
        try:
            with self.path.open("rb") as fh:
                for record in _csv_records(fh, self._delimiter()):
                    if record.problem:
                        raise _CsvProblem(record.line, record.problem)
                    return record.fields
        except OSError as exc:
            raise TableError(self.name, f"cannot read: {exc.strerror or exc}") from exc
        except _CsvProblem as exc:
            raise TableError(f"{self.name}:{exc.line}", exc.message) from exc
        raise TableError(self.name, "empty file", expected="a header line, then one row per line")

    def _parquet_header(self) -> list[str]:
        pq = _pyarrow_parquet(self.name)
        try:
            return [str(n) for n in pq.ParquetFile(self.path).schema_arrow.names]
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a bad file
            raise TableError(self.name, f"not a readable Parquet file: {exc}") from exc

    def _delimiter(self) -> str:
        return "\t" if self.path.suffix.lower() == ".tsv" else ","

    # -- rows ------------------------------------------------------------------------------------
    def rows(self) -> Iterator[Row]:
        """Every data row in file order. A record that is not valid CSV (an unbalanced quote)
        does not end the file: each of its lines becomes an error row of the patient whose id
        starts it (see :func:`_csv_records`), and the rows after it are read."""
        return self._parquet_rows() if self.parquet else self._csv_rows()

    def _csv_rows(self) -> Iterator[Row]:
        width = None
        broken, seen = 0, set[str | None]()  # the broken record being reported, its patients
        try:
            with self.path.open("rb") as fh:
                for record in _csv_records(fh, self._delimiter(), self._runs_over):
                    if width is None:
                        width = len(record.fields)
                        continue
                    if record.problem is None:
                        if any(cell.strip() for cell in record.fields):  # else a blank line
                            yield self._csv_row(record.line, record.fields, width)
                        continue
                    row = self._unread_row(record.line, record.head, record.problem)
                    if record.broken:  # one error row per patient (and one without an id)
                        if record.broken != broken:
                            broken, seen = record.broken, set()
                        if row.patient_id in seen:
                            continue
                        seen.add(row.patient_id)
                    yield row
        except OSError as exc:
            raise TableError(self.name, f"cannot read: {exc.strerror or exc}") from exc
        except _CsvProblem as exc:
            raise TableError(f"{self.name}:{exc.line}", exc.message) from exc

    def _csv_row(self, line: int, record: list[str], width: int) -> Row:
        cells: dict[str, Cell] = {}
        error: tuple[str | None, str] | None = None
        if len(record) != width:
            error = (None, f"{len(record)} fields where the header has {width}" + (
                "; an extra separator at the end of the line, or one inside a value that is "
                "not quoted (\"1,5\")" if len(record) > width else
                "; a value or its separator is missing"))  # fmt: skip
        for column, (name, index) in self.columns.items():
            text = record[index] if index < len(record) else ""
            if _SURROGATE.search(text) and error is None:
                error = (name, "not valid UTF-8 text")
            value = cell(column, text)
            cells[column] = value
        if error is None and self.kind == RESULTS and "value" in self.columns:
            error = _grouped_per_microlitre(
                self.columns["value"][0], record[self.columns["value"][1]], cells.get("unit")
            ) if self.columns["value"][1] < len(record) else None  # fmt: skip
        if error is None and _read_as_exact(cells):
            signs = ((name, record[i] if i < len(record) else "") for name, i in self.sign_columns)
            error = _sign_error(signs, self.has_comparator, cells.get("value"))
        return Row(line, cells, error)

    def _runs_over(self, record: list[str]) -> str | None:
        """Why a record over several lines is not a row, if it is not: a quote left open and
        closed by a quote lines later makes one record of the rows between, whose fields then
        do not fit the header, or whose read cells hold a line break (only a free-text column
        may hold one)."""
        width = len(self.header)
        if len(record) != width:
            detail = f"has {len(record)} fields where the header has {width}"
        else:
            broken = [
                name for name, i in self.columns.values() if "\n" in record[i] or "\r" in record[i]
            ]
            if not broken:
                return None
            detail = f"holds a line break in column '{broken[0]}'"
        return (
            "not a valid CSV record: a quoted field runs over several lines and the record "
            f"{detail} (expected a closing '\"' on the line where the quote opens)"
        )

    def _unread_row(self, line: int, head: str, problem: str) -> Row:
        """A line that could not be read (too long, or part of a record that is not valid CSV),
        with its patient id when the start of the line holds it whole and well-formed, so that
        its patient fails; otherwise the row has no id (an error record of its own)."""
        index = self.columns["patient_id"][1]
        text = _leading_field(head, self._delimiter(), index)
        cells: dict[str, Cell] = dict.fromkeys(self.columns)
        cells["patient_id"] = cell("patient_id", text) if text is not None else None
        return Row(line, cells, (None, problem))

    def _parquet_rows(self) -> Iterator[Row]:
        pq = _pyarrow_parquet(self.name)
        names = {name: column for column, (name, _) in self.columns.items()}
        signs = [name for name, _ in self.sign_columns]
        line = 0
        try:
            batches = pq.ParquetFile(self.path).iter_batches(
                batch_size=PARQUET_BATCH, columns=list(names) + signs
            )
            for batch in batches:
                for record in batch.to_pylist():
                    line += 1
                    row = self._parquet_row(line, record, names)
                    if row.error is None and _read_as_exact(row.cells):
                        sign = _sign_error(((n, record.get(n)) for n in signs),
                                           self.has_comparator, row.cells.get("value"))  # fmt: skip
                        row = Row(line, row.cells, sign) if sign else row
                    yield row
        except TableError:
            raise
        except Exception as exc:  # noqa: BLE001 - a corrupt page part way through the file
            raise TableError(self.at(line + 1), f"cannot read: {exc}") from exc

    def _parquet_row(self, line: int, record: dict[str, Any], names: dict[str, str]) -> Row:
        cells: dict[str, Cell] = {}
        error: tuple[str | None, str] | None = None
        for name, column in names.items():
            try:
                cells[column] = typed_cell(column, record.get(name))
            except ValueError as exc:
                cells[column] = None
                error = error or (name, str(exc))
        return Row(line, cells, error)


#: Other names exports give the optional date columns: left unread, a course stopped in 2012
#: was "ongoing" (interrupt clozapine) and a fever of 2020 current (febrile neutropenia). Such a
#: column is refused with the rename to use, never read as the column it resembles.
LOOKALIKES: dict[str, dict[str, tuple[str, ...]]] = {
    MEDICATIONS: {
        "stop": ("end", "end_date", "stop_date", "stopped", "date_stopped", "discontinued",
                 "discontinuation_date", "end_time"),
        "start": ("start_date", "started", "date_started", "begin", "begin_date", "start_time"),
    },
    CONDITIONS: {
        "until": ("end", "end_date", "resolved", "resolved_date", "resolution_date", "abatement",
                  "abatement_date"),
        "since": ("onset", "onset_date", "start", "start_date", "date_onset"),
    },
}  # fmt: skip

#: Cells that are a bound's sign alone (``<`` in a column of its own).
COMPARISON_SIGNS = frozenset({"<", "<=", ">", ">=", "≤", "≥"})
#: An unread cell that begins with a comparison sign followed by nothing, a space, a letter or a
#: number (``<``, ``< L``, ``<0.5``, ``>= 400``): it may carry the bound of the row's value.
#: A sign inside text ("ANC was < 1 last week") is not at the start and is left alone.
_SIGN_START = re.compile(r"(<=|>=|≤|≥|<|>)(?=$|\s|[^\W_]|[.+-]?\d)")
_SIGN_FIRST = frozenset("<>≤≥")
#: Words of a column that gives a reference range or a limit ("Reference Range" ``<5`` for a CRP):
#: its sign bounds the normal range, not the result, so it is not looked at.
_RANGE_WORDS = frozenset({"range", "ref", "reference", "normal", "interval", "limit", "limits"})


def _normal(name: str) -> str:
    """A header as a column name: case folded, spaces and hyphens as underscores
    (``Patient ID`` -> ``patient_id``, ``Comparator`` -> ``comparator``)."""
    return re.sub(r"[\s\-]+", "_", name.casefold())


def _is_range_column(name: str) -> bool:
    """Whether an unread column names a reference range or limit (``Reference Range``,
    ``ref_low``, ``normal_limits``)."""
    split = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name)  # RefRange, NormalRange
    return not _RANGE_WORDS.isdisjoint(re.split(r"[_\W]+", _normal(split)))


#: Words of a column that gives a result's comparison operator in its own words or codes
#: (``Operator`` ``LT``, OMOP's ``operator_concept_id`` ``4171756`` for "<"): unread, each such
#: row was an exact value, and an ANC "< 0.5" became a moderate count of 0.5 (probe 10).
_OPERATOR_WORDS = frozenset({"operator", "comparator", "qualifier", "modifier", "op"})
#: Cells of such a column that mark an exact value: "=", "EQ", and OMOP's concept 4172703,
#: "=" in the OHDSI vocabulary's Meas Value Operator domain (a CONCEPT table row, "4172703, '=',
#: 'Meas Value Operator', 'SNOMED', 'Qualifier Value', 'S', '276136004'").
_EQUALITY = frozenset({"=", "==", "eq", "equal", "equals", "4172703"})


#: A number written with thousands separators and no decimals (``12.000``, ``8.000``).
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+")


def _grouped_per_microlitre(name: str, text: str, unit: object) -> tuple[str, str] | None:
    """(column, problem) for a per-microlitre count written like ``12.000``: a count per
    microlitre is a whole number, so "12.000 /µl" is twelve thousand with a thousands separator,
    yet it reads as 12 cells per microlitre (0.012 x 10^9/L) and raised a critical alert to
    interrupt the patient's antipsychotic (probe 10). ``4.500`` is refused later as a fraction
    of a cell; this is the case whose digits after the point are all zeros. Not guessed either
    way: refused."""
    if not isinstance(unit, str) or not _GROUPED.fullmatch(text.strip()):
        return None
    if not any(units.factor_of(t, unit) == units.PER_MICROLITRE for t in COUNT_TESTS):
        return None
    shown = text.strip()
    read = f" (it would read as {float(shown):g})" if shown.count(".") == 1 else ""
    return name, (
        f"{shown!r} with unit {unit!r} has a thousands separator or three decimals, but a count "
        f"per microlitre is a whole number{read}; expected the count without a separator "
        f"({shown.replace('.', '')}) or in 10^9/L"
    )


def _is_operator_column(name: str) -> bool:
    """Whether an unread column names a comparison operator (``Operator``, ``result_qualifier``,
    ``operator_concept_id``)."""
    split = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name)  # ValueOperator
    return not _OPERATOR_WORDS.isdisjoint(re.split(r"[_\W]+", _normal(split)))


def _operator_problem(name: str, text: str) -> str:
    return (
        f"holds the operator {_shown(text)}, which leukodx does not read, so the value would be "
        "read as exact; expected the bound as a sign (<, <=, >, >=, =) in a comparator column "
        f"(map the codes to signs, then --columns '{name}=comparator'), or this column left out "
        "of the file"
    )


def _read_as_exact(cells: Mapping[str, Cell]) -> bool:
    """Whether a results row's value will be read as an exact value: no comparator (or ``=``)
    and a value that is not written with its sign (``<0.5`` is a bound, read as such)."""
    return cells.get("comparator") in (None, "=") and not isinstance(cells.get("value"), str)


def _sign_error(
    cells: Iterable[tuple[str, object]], has_comparator: bool = False, value: object = None
) -> tuple[str, str] | None:
    """(column, problem) of the first unread cell of a row read as exact that begins with a
    comparison sign (``<``, ``< L``, ``<0.5``), if any. A sign followed by a number other than
    the row's ``value`` bounds something else (a reference range ``<5`` beside a CRP of 40,
    whatever the column is called), and is left alone."""
    for name, cell in cells:
        text = str(cell).strip() if cell is not None else ""
        if text and _is_operator_column(name) and text.casefold() not in _EQUALITY:
            return name, _operator_problem(name, text)
        if text[:1] in _SIGN_FIRST and (found := _SIGN_START.match(text)):
            if _another_number(text[found.end() :], value):
                continue
            return name, _sign_problem(name, found[1], text.rstrip(), has_comparator)
    return None


_LEADING_NUMBER = re.compile(r"\s*([+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+))")


def _another_number(rest: str, value: object) -> bool:
    """Whether the text after a sign starts with a number that is not the row's value, in this
    or another unit: a number that is the value times a power of ten (``<500`` beside an ANC of
    0.5 10^9/L: 500/uL is the same count, and the row is a bound read as exact) is the value."""
    found = _LEADING_NUMBER.match(rest)
    if found is None or not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        number = float(found[1].replace(",", "."))
    except ValueError:
        return False
    if abs(number - float(value)) <= 1e-9 * max(1.0, abs(float(value))):
        return False
    if number == 0 or value == 0:
        return True
    exponent = math.log10(abs(number / float(value)))
    return abs(exponent - round(exponent)) > 1e-6 or abs(round(exponent)) > 6


def _sign_problem(name: str, sign: str, text: str, has_comparator: bool) -> str:
    if text == sign and not has_comparator:
        return (
            f"holds the comparison sign '{sign}', but the table has no comparator column, so the "
            "value would be read as exact; name this column comparator "
            f"(--columns '{name}=comparator')"
        )
    held = f"holds the comparison sign '{sign}'" if text == sign else (
        f"begins with the comparison sign '{sign}' ({_shown(text)})")  # fmt: skip
    where = "its comparator is empty" if has_comparator else "the table has no comparator column"
    return (
        f"{held}, but {where}, so the value would be read as exact; expected the bound in the "
        "comparator column (or the value written with its sign, '<0.5'), or this column left "
        "out of the file"
    )


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


class _CsvProblem(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


#: A header line with a UTF-16 byte-order mark or NUL bytes: a file saved as UTF-16 ("Unicode
#: text" in spreadsheet programs), whose every cell would read as noise.
_NOT_UTF8 = (
    'the file is not UTF-8 text: it looks like UTF-16 ("Unicode text" in spreadsheet programs); '
    "save it as CSV UTF-8"
)


class _Record(NamedTuple):
    """One CSV record (``problem`` None), or one line that was not read: too long, or part of a
    record that is not valid CSV (``broken``: that record's first line). ``head`` is the start
    of an unread line, where its patient id is looked for."""

    line: int
    fields: list[str]
    problem: str | None = None
    head: str = ""
    broken: int = 0


def _csv_records(
    fh: IO[bytes], delimiter: str, check: Callable[[list[str]], str | None] | None = None
) -> Iterator[_Record]:
    """Each CSV record with its first line, decoding line by line (invalid UTF-8 becomes lone
    surrogates, reported per cell by the caller, instead of ending the file).

    A line longer than :data:`MAX_LINE_BYTES` is skipped to its end without being held; it comes
    out as an unread line with the start of its text. A record that is not valid CSV (an
    unbalanced quote, which runs on to the next quote or the end of the file), or a record over
    several lines that ``check`` refuses (a quote left open that a later quote closed, the rows
    between swallowed into one cell), does not end the file: each non-blank line it spans comes
    out as an unread line naming the problem, and reading goes on from the line after it."""
    _raise_field_limit()
    state: dict[str, Any] = {"line": 0, "long": {}}

    def lines() -> Iterator[str]:
        number = 0
        while raw := fh.readline(MAX_LINE_BYTES + 1):
            number += 1
            state["line"] = number
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while (rest := fh.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                    pass
                state["long"][number] = _decode(raw[:_LONG_LINE_HEAD])
                raw = b"\n"  # read on as a blank line; the record is reported below
            if number == 1 and (raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw):
                raise _CsvProblem(1, _NOT_UTF8)
            text = raw.decode("utf-8", "surrogateescape")
            yield text.removeprefix("\ufeff") if number == 1 else text

    reader = csv.reader(lines(), delimiter=delimiter, strict=True)
    previous, start = 0, fh.tell()  # the last line and the end of the last record read
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            first, previous, end = previous + 1, state["line"], fh.tell()
            problem = _csv_message(exc)
            yield from _broken_lines(fh, (start, end), (first, previous), problem, delimiter)
            state["long"].clear()
            start = end
            continue
        first, previous, end = previous + 1, state["line"], fh.tell()
        long = [n for n in state["long"] if first <= n <= previous]
        if long:
            head = state["long"].pop(long[0])
            problem = f"line longer than {MAX_LINE_BYTES} bytes, not read"
            yield _Record(long[0], [], problem, head)
            state["long"].clear()
        elif previous > first and check is not None and (refused := check(record)):
            yield from _broken_lines(fh, (start, end), (first, previous), refused, delimiter)
        else:
            yield _Record(first, record)
        start = end


def _broken_lines(
    fh: IO[bytes], span: tuple[int, int], lines: tuple[int, int], problem: str, delimiter: str
) -> Iterator[_Record]:
    """The lines of a record that is not valid CSV (bytes ``span``, lines ``lines``), each as an
    unread line with its start (for its patient id); the file is left where the record ended."""
    first, last = lines
    fh.seek(span[0])
    try:
        for number in range(first, last + 1):
            head = raw = fh.readline(_LONG_LINE_HEAD)
            if not raw:
                break
            while not raw.endswith(b"\n") and (raw := fh.readline(_LONG_LINE_HEAD)):
                pass  # the rest of a long line
            if not head.replace(delimiter.encode(), b"").strip():
                continue  # a blank line holds no row
            if number == first:
                said = problem if last == first else f"{problem}; lines {first}-{last} not read"
            else:
                said = f"not read: inside the record of lines {first}-{last}, which is {problem}"
            yield _Record(number, [], said, _decode(head), first)
    finally:
        fh.seek(span[1])


def _decode(head: bytes) -> str:
    return head.decode("utf-8", "surrogateescape").removeprefix("\ufeff")


def _leading_field(head: str, delimiter: str, index: int) -> str | None:
    """Field ``index`` of the start of an unread line, when it and every field before it are
    well-formed CSV and a delimiter follows it (so it is whole); None otherwise (the quote that
    broke the record opens in it, or the line is cut inside it)."""
    match = _leading_fields(delimiter, index).match(head)
    if match is None:
        return None
    fields = next(csv.reader([match[0][:-1]], delimiter=delimiter, strict=True), [])
    return fields[index] if index < len(fields) else ""


@functools.cache
def _leading_fields(delimiter: str, index: int) -> re.Pattern[str]:
    sep = re.escape(delimiter)
    field = rf'(?:"(?:[^"]|"")*"|[^"{sep}\r\n]*)'
    return re.compile(rf"(?:{field}{sep}){{{index + 1}}}")


def _csv_message(exc: csv.Error) -> str:
    """csv's message, with what it means and what was expected where it is obscure."""
    text = str(exc)
    if "new-line character seen in unquoted field" in text:
        return (
            "not a valid CSV record: a carriage return inside a line (expected lines ending "
            "in LF or CRLF; a file with CR-only line ends, or not a text table)"
        )
    if text == "unexpected end of data":
        return (
            "not a valid CSV record: unexpected end of data: a quoted field opened in it is not "
            "closed before the end of the file (expected a closing '\"'; a quote inside a quoted "
            'field is written twice, "")'
        )
    if "expected after" in text:
        return (
            f"not a valid CSV record: {text} (a quoted field ends at its closing quote; a quote "
            'inside a quoted field is written twice, "")'
        )
    if "field larger than field limit" in text:
        return (
            f"not a valid CSV record: a field longer than {MAX_LINE_BYTES} bytes (expected the "
            "closing '\"' of a quoted field before it)"
        )
    return f"not a valid CSV record: {text}"


def _raise_field_limit() -> None:
    """Let one cell be as long as a line (csv's default limit is 128 KiB)."""
    if csv.field_size_limit() < MAX_LINE_BYTES:
        csv.field_size_limit(MAX_LINE_BYTES)


def _pyarrow_parquet(name: str) -> Any:
    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError as exc:
        raise TableError(
            name, "reading Parquet needs pyarrow", expected="pip install 'leukodx[parquet]'"
        ) from exc
    return pq


def cell(column: str, text: str) -> Cell:
    """A CSV cell as the value a YAML case file would hold for ``column`` (see the module doc)."""
    text = text.strip()
    if not text:
        return None
    if column in _LISTS:
        return [part.strip() for part in _SPLIT.split(text) if part.strip()]
    if column in _NUMBERS:
        return _number(text)
    if column in _DATES:
        match = _DATE.fullmatch(text)
        if match and column == "date" and instant_of(text) is not None:
            return text  # a result's instant orders it against another offset's (engine.instants)
        return match.group(1) if match and _valid_time(text) else text
    if column in _BOOLEANS:
        low = text.lower()
        return True if low in _TRUE else False if low in _FALSE else text
    return text


def _valid_time(text: str) -> bool:
    """Whether a date's time part, if any, is a real time: ``2025-03-05T25:00`` is a broken
    timestamp, refused whole rather than read as its date."""
    if len(text) == 10:
        return True
    try:
        dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _number(text: str) -> int | float | str:
    if _INT.fullmatch(text):
        return int(text) if len(text) <= 40 else text
    if _FLOAT.fullmatch(text):
        value = float(text)
        return value if math.isfinite(value) else text
    return text


def typed_cell(column: str, value: object) -> Cell:
    """A Parquet value as :func:`cell` would read its text. Raises ValueError for a value of a
    type no column holds (a nested list, bytes that are not UTF-8)."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None  # pandas writes a missing number as NaN
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("not valid UTF-8 text") from None
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat() if column in _DATES else cell(column, value.isoformat())
    if isinstance(value, bool):
        return value if column in _BOOLEANS else cell(column, str(value).lower())
    if isinstance(value, (int, float)):
        if column in _NUMBERS:
            return value if math.isfinite(value) else str(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # an id written by pandas as 123.0
        return cell(column, str(value))
    if isinstance(value, str):
        return cell(column, value)
    if hasattr(value, "__float__"):  # Decimal
        return _number(str(value)) if column in _NUMBERS else cell(column, str(value))
    raise ValueError(f"a {type(value).__name__} value, which no column holds")
