# SPDX-License-Identifier: Apache-2.0
"""One case per patient from long-format tables, with bounded memory.

A results table (one row per lab result) and its companion tables (:mod:`engine.batch.tables`)
become one patient dict per ``patient_id``, the same dict a YAML case file gives, so every case
goes through the same validation (:func:`engine.patient.parse_patient`) wherever it came from.
Each item of the dict remembers the file, line and columns it came from (:class:`Origin`), so
that a validation error about ``labs[3].unit`` is reported as ``results.csv:57, column 'unit'``
(:func:`locate`).

How rows are grouped, and the memory that costs:

* The results table is first scanned once for its patient ids (:func:`is_grouped`, which keeps a
  16-byte digest per finished patient and stops at the first patient seen again). When every
  patient's rows are contiguous (a file sorted or grouped by patient, as exports usually are),
  the rows are streamed and grouped on the fly (:func:`group_rows`): at most one patient's rows
  and one row of look-ahead are held.
* Otherwise the results are spilled to a temporary SQLite store (:mod:`engine.batch.spill`) and
  read back one patient at a time: memory is SQLite's page cache (8 MiB) plus one patient.
* Companion tables are always spilled (they follow no order of the results); patients appear in
  the order of their first result row, then patients found only in a companion table (they become
  cases too, so nothing given is dropped silently; without a count they fail validation).

A row that cannot be read (a wrong number of fields, invalid UTF-8, an unknown ``kind``, a second
``patients`` row, a line of a record that is not valid CSV) becomes its patient's error; a row
without a patient id (or whose id cannot be read) is an error record of its own. A table that cannot
be read at all raises :class:`~engine.batch.tables.TableError`; the whole file is read (or scanned)
before the first patient is returned, so such an error comes before any case of that file.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import vocab
from engine.batch.digests import DigestSet
from engine.batch.spill import Spill
from engine.batch.tables import (
    CONDITIONS,
    MEDICATIONS,
    PATIENTS,
    RESULTS,
    Row,
    Table,
    TableError,
    TableSpec,
)
from engine.errors import InputError

if TYPE_CHECKING:
    from engine.fhir.terms import Terminology

#: ``kind`` column of the conditions table -> the patient facts list it fills
KINDS: dict[str, str] = {
    "condition": "conditions", "conditions": "conditions", "finding": "findings",
    "findings": "findings", "history": "history",
}  # fmt: skip
#: Patient-level facts read from the patients table (the rest of its columns).
_PATIENT_KEYS: tuple[str, ...] = (
    "as_of", "age", "sex", "duffy_null", "ancestry", "bmi", "wbc_trend",
    "leukopenia_duration_days", "expected", "acceptable",
)  # fmt: skip
_ITEM = re.compile(r"(labs|medications|conditions|findings|history)\[(\d+)\](?:\.(\w+))?")
_TOP = re.compile(r"(\w+)")


@dataclass(frozen=True)
class Origin:
    """Where one item of a patient dict came from: ``where`` (``file:line``), the file, the line,
    and the file's own column name for each key of the item."""

    where: str
    file: str
    line: int
    columns: Mapping[str, str]


@dataclass(frozen=True)
class Located:
    """An error placed in its table: the field path, where (``file:line, column 'c'``), the
    problem, and the file, line and column apart (None where no single row is at fault)."""

    field: str
    where: str | None
    problem: str
    file: str | None = None
    line: int | None = None
    column: str | None = None

    @property
    def message(self) -> str:
        return f"{self.where}: {self.problem}" if self.where else self.problem


@dataclass
class TablePatient:
    """One patient of a table: its dict (or the first error of its rows) and the origins."""

    id: str
    source_file: str
    line: int | None
    data: dict[str, Any] | None = None
    origins: dict[str, Origin] = field(default_factory=dict)
    error: Located | None = None


def open_tables(path: str | Path, spec: TableSpec) -> tuple[Table, list[Table]]:
    """The results table and the companion tables, headers checked; every ``--columns`` rename
    must name a column of some table (a typo is an error, not a rename that does nothing)."""
    results = Table(path, RESULTS, spec.renames, skip_unknown_tests=spec.skip_unknown_tests)
    companions = [Table(p, kind, spec.renames) for kind, p in spec.companions()]
    headers = {name for t in (results, *companions) for name in t.header}
    for old in spec.renames:
        if old not in headers:
            raise TableError(
                "--columns",
                f"no table has a column '{old}'",
                expected="a column name as written in the header of a table",
            )
    return results, companions


def iter_patients(path: str | Path, spec: TableSpec | None = None) -> Iterator[TablePatient]:
    """Every patient of a results table (and its companions), one at a time (see module doc)."""
    spec = spec or TableSpec()
    results, companions = open_tables(path, spec)
    tables = [results, *companions]
    grouped = is_grouped(results.rows())
    spill = Spill() if companions or not grouped else None
    try:
        if spill is not None:
            if not grouped:
                spill.load(0, results.rows())
            for source, table in enumerate(companions, start=1):
                spill.load(source, table.rows())
        if grouped:
            for pid, rows in group_rows(results.rows()):
                if pid is None:
                    yield _orphan(results, rows[0])
                    continue
                found = [(0, r) for r in rows] + (spill.take(pid) if spill else [])
                yield build_patient(pid, tables, found)
        if spill is not None:
            for pid in spill.pending():
                yield build_patient(pid, tables, spill.take(pid))
            for source, row in spill.orphans():
                if source or not grouped:
                    yield _orphan(tables[source], row)
    finally:
        if spill is not None:
            spill.close()


def count_patients(path: str | Path, spec: TableSpec | None = None) -> int:
    """How many cases :func:`iter_patients` yields (distinct patient ids, and one per row without
    an id), reading the tables once without holding their rows."""
    spec = spec or TableSpec()
    results, companions = open_tables(path, spec)
    ids, orphans = DigestSet(), 0
    for table in (results, *companions):
        for row in table.rows():
            if row.patient_id is None:
                orphans += 1
            else:
                ids.add(row.patient_id)
    return len(ids) + orphans


def is_grouped(rows: Iterable[Row]) -> bool:
    """Whether each patient's rows are contiguous (rows without an id are ignored). Stops at the
    first patient id that comes back after another."""
    finished = DigestSet()
    current: str | None = None
    for row in rows:
        pid = row.patient_id
        if pid is None or pid == current:
            continue
        if pid in finished:
            return False
        if current is not None:
            finished.add(current)
        current = pid
    return True


def group_rows(rows: Iterable[Row]) -> Iterator[tuple[str | None, list[Row]]]:
    """Contiguous rows of one patient as ``(patient_id, rows)``, streaming: only the current
    patient's rows are held. A row without a patient id comes out alone as ``(None, [row])``,
    without ending the group around it."""
    current: str | None = None
    held: list[Row] = []
    for row in rows:
        pid = row.patient_id
        if pid is None:
            yield None, [row]
            continue
        if pid != current and held:
            yield current, held
            held = []
        current = pid
        held.append(row)
    if held:
        yield current, held


def _orphan(table: Table, row: Row) -> TablePatient:
    where = table.at(row.line)
    column = table.column_name("patient_id")
    problem = "a row without a patient id"
    if row.error is not None:  # a line not read (too long, not valid CSV): its id is not known
        problem = f"a row whose patient id cannot be read ({row.error[1]})"
    error = Located("patient_id", f"{where}, column '{column}'", problem,
                    table.name, row.line, column)  # fmt: skip
    return TablePatient(where, table.name, row.line, error=error)


def build_patient(pid: str, tables: list[Table], rows: Iterable[tuple[int, Row]]) -> TablePatient:
    """One patient's dict from its rows (``(table index, row)``; index 0 is the results table)."""
    patient = _Builder(pid, tables)
    for source, row in rows:
        patient.add(tables[source], row)
    return patient.done()


class _Builder:
    def __init__(self, pid: str, tables: list[Table]) -> None:
        self.pid = pid
        self.tables = tables
        self.data: dict[str, Any] = {"id": pid}
        self.origins: dict[str, Origin] = {}
        self.error: Located | None = None
        self.first_line: int | None = None
        self.patient_row: str | None = None

    def add(self, table: Table, row: Row) -> None:
        if self.error is not None:
            return  # one error per patient, like any case
        if table.kind == RESULTS and self.first_line is None:
            self.first_line = row.line
        if row.error is not None:
            self.fail(table, row, row.error[0], row.error[1])
            return
        if table.kind == RESULTS:
            test = row.cells.get("test")
            if isinstance(test, str):
                known, problem = _coded_test(test)
                if problem is not None:
                    self.fail(table, row, table.column_name("test"), problem)
                    return
                if known is not None:
                    test = known
                    row = Row(row.line, {**row.cells, "test": known}, row.error)
            if (table.skip_unknown_tests and isinstance(test, str) and not vocab.is_test(test)
                    and not _may_be_read(test)):  # fmt: skip
                self.data.setdefault("ignored_inputs", []).append({
                    "item": f"{table.at(row.line)} ({test})",
                    "reason": f"test '{test}' is not one leukodx reads (--skip-unknown-tests)",
                })  # fmt: skip
                return
            columns = ("test", "value", "unit", "date", "comparator")
            self.item(table, row, "labs", columns, ("test", "value"))
            _split_bound(self.data["labs"][-1])
        elif table.kind == MEDICATIONS:
            self.item(table, row, "medications", ("name", "start", "stop", "dose"), ("name",))
        elif table.kind == CONDITIONS:
            kind = row.cells.get("kind")
            target = KINDS.get(kind.lower()) if isinstance(kind, str) else None
            if target is None:
                message = f"unknown kind {kind!r} (expected condition, finding or history)"
                self.fail(table, row, table.column_name("kind"), message)
                return
            self.item(table, row, target, ("name", "since", "until", "present"), ("name",))
        elif table.kind == PATIENTS:
            self.patient(table, row)

    def item(self, table: Table, row: Row, key: str, columns: tuple[str, ...],
             always: tuple[str, ...]) -> None:  # fmt: skip
        entry = {
            c: row.cells.get(c) for c in columns if c in always or row.cells.get(c) is not None
        }
        items = self.data.setdefault(key, [])
        self.origins[f"{key}[{len(items)}]"] = self.origin(table, row, columns)
        items.append(entry)

    def patient(self, table: Table, row: Row) -> None:
        if self.patient_row is not None:
            message = f"a second row for patient '{self.pid}' (the first is {self.patient_row})"
            self.fail(table, row, table.column_name("patient_id"), message)
            return
        self.patient_row = table.at(row.line)
        for key in _PATIENT_KEYS:
            value = row.cells.get(key)
            if value is not None:
                self.data[key] = value
        self.origins["patient"] = self.origin(table, row, _PATIENT_KEYS)

    def origin(self, table: Table, row: Row, columns: Iterable[str]) -> Origin:
        names = {c: table.column_name(c) for c in columns if c in table.columns}
        return Origin(table.at(row.line), table.name, row.line, names)

    def fail(self, table: Table, row: Row, column: str | None, message: str) -> None:
        where = table.at(row.line) + (f", column '{column}'" if column else "")
        self.error = Located(column or "row", where, message, table.name, row.line, column)

    def done(self) -> TablePatient:
        source = self.tables[0].name
        summary = "wbc_trend" in self.data and "leukopenia_duration_days" in self.data
        if self.error is None and self.first_line is None and self.origins and not summary:
            # only a companion table has this id, and no summary of the counts (wbc_trend and
            # leukopenia_duration_days) stands in for results: an id written another way there
            # (00123 and 123.0, X16 and x16) took the drug off the patient in silence (probe 10)
            first = next(iter(self.origins.values()))
            self.error = Located(
                "patient_id", first.where,
                f"patient '{self.pid}' appears in {first.file} but has no row in the results "
                f"table {source}; ids are matched exactly as written (00123, 123 and 123.0 are "
                "three ids)", first.file, first.line, first.columns.get("patient_id"),
            )  # fmt: skip
        if self.error is not None:
            return TablePatient(self.pid, source, self.first_line, error=self.error)
        return TablePatient(self.pid, source, self.first_line, self.data, self.origins)


def locate(origins: Mapping[str, Origin], field: str, message: str, pid: str = "") -> Located:
    """A validation error of a table patient (``labs[3].unit: ...``) placed in its file, line and
    column. A field no single row holds (the patient has no count at all) keeps its message,
    prefixed with the patient id."""
    origin, key = _origin_of(origins, field)
    if origin is None:
        return Located(field, f"patient '{pid}'" if pid else None, message)
    column = origin.columns.get(key) if key else None
    where = f"{origin.where}, column '{column}'" if column else origin.where
    return Located(field, where, message, origin.file, origin.line, column)


def _origin_of(origins: Mapping[str, Origin], field: str) -> tuple[Origin | None, str | None]:
    if match := _ITEM.match(field):
        origin = origins.get(f"{match.group(1)}[{match.group(2)}]")
        key = match.group(3)
        if key is None and match.group(1) in ("conditions", "findings", "history"):
            key = "name"  # a bare entry's error is about its word
        return origin, key
    top = _TOP.match(field)
    if top and top.group(1) in _PATIENT_KEYS:
        return origins.get("patient"), top.group(1)
    return None, None


def located_input_error(origins: Mapping[str, Origin], exc: InputError) -> InputError:
    """:func:`locate` for the command line: the same :class:`InputError`, with ``file:line,
    column`` as its source."""
    origin, key = _origin_of(origins, exc.field)
    if origin is None:
        return exc
    column = origin.columns.get(key) if key else None
    source = f"{origin.where}, column '{column}'" if column else origin.where
    return exc.with_source(source)


def single_patient(
    path: str | Path, spec: TableSpec | None = None
) -> tuple[dict[str, Any], Callable[[InputError], InputError]]:
    """The one patient of a table, for ``leukodx diagnose results.csv``, and a function that
    places a validation error in the table. More than one patient is an input error."""
    found: TablePatient | None = None
    for patient in iter_patients(path, spec):
        if patient.error is not None and patient.error.field == "patient_id" and not patient.data:
            # a row without a patient id (or one that cannot be read) is not a second patient
            raise TableError(patient.error.where or str(path), patient.error.problem)
        if found is not None:
            raise InputError(
                str(path),
                f"more than one patient ('{found.id}' and '{patient.id}')",
                expected="one patient's rows; run leukodx batch for many patients",
            )
        found = patient
    if found is None:
        raise InputError(str(path), "no rows", expected="one row per result")
    if found.error is not None:
        raise TableError(found.error.where or str(path), found.error.problem)
    origins = found.origins
    return found.data or {}, lambda exc: located_input_error(origins, exc)


_BOUND_CELL = re.compile(r"^(<=|>=|<|>|≤|≥)\s*([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)$")
_SIGNS = {"≤": "<=", "≥": ">="}


def _split_bound(lab: dict[str, object]) -> None:
    """A value written with its sign (``<0.5``) is the bound it says, when no comparator is given
    for it: the sign is printed, not guessed (it was refused as "needs a number"). ``=`` in the
    comparator column marks an exact value, as exports write it."""
    if lab.get("comparator") == "=":
        del lab["comparator"]
    sign = lab.get("comparator")
    if isinstance(sign, str) and sign.strip() in _SIGNS:  # ≤ and ≥, as exports print them
        lab["comparator"] = _SIGNS[sign.strip()]
    value = lab.get("value")
    found = _BOUND_CELL.match(value.strip()) if isinstance(value, str) else None
    if found and lab.get("comparator") is not None:  # "<0.5" beside "<": read once, not refused
        if _SIGNS.get(found[1], found[1]) == lab["comparator"]:
            lab["comparator"] = None
    if found and lab.get("comparator") is None:
        number = float(found[2])
        lab["value"] = int(number) if number.is_integer() and "." not in found[2] else number
        lab["comparator"] = _SIGNS.get(found[1], found[1])


#: Stems of the names exports give the counts leukodx reads (Neut#, Lymphs, Segs, PLT, Hgb).
_COUNT_STEMS = ("neut", "wbc", "anc", "leuk", "lymph", "granul", "seg", "band", "plt", "platelet",
                "hgb", "hemoglobin", "haemoglobin", "mono", "blast", "pmn", "poly")  # fmt: skip
#: A LOINC code as a results table writes it in its test column (``751-8``).
_LOINC = re.compile(r"\d{1,7}-\d")
#: Words of a body-temperature test name (``Temperature``, ``Temp oral``, ``Body temp``).
_TEMPERATURE = re.compile(r"temp", re.IGNORECASE)
TEMPERATURE_ROW = (
    "is a body temperature, which a results table does not give leukodx: a fever drives the "
    "febrile neutropenia alert, so it is not skipped; expected the fever as a finding in the "
    "--conditions table (kind finding, name fever, with its since and until dates), or these "
    "rows left out of the file"
)


def _may_be_read(test: str) -> bool:
    """Whether an unknown test name may be a count leukodx reads under a local name (it holds a
    count's stem): such a row still fails its patient under
    ``--skip-unknown-tests``, naming the test it resembles, since skipping it would drop an ANC
    called "Neut#", "neutrophils", "PMN abs" or "A.N.C."."""
    folded = re.sub(r"[\s.]", "", test.casefold())
    return any(stem in folded for stem in _COUNT_STEMS)


@functools.cache
def _terminology() -> Terminology:
    """The bundled FHIR terminology, read once per process: a table may name a LOINC code on
    every one of a million rows, and each load checks both files' modification times."""
    from engine.fhir.terms import load_terminology  # only for tables that use codes

    return load_terminology()


def _coded_test(test: str) -> tuple[str | None, str | None]:
    """(the contract test, None) for a LOINC code the FHIR reader maps (``751-8`` -> ``anc``:
    the code is the test, and the unit column still decides the conversion); (None, why) for a
    body temperature, by name or LOINC code (skipped, a fever was lost), or a LOINC code that
    is deliberately not read; (None, None) for anything else, read by name as before."""
    code = test.strip()
    if _LOINC.fullmatch(code):
        terms = _terminology()
        if code in terms.tests:
            return terms.tests[code], None
        if code in terms.fever_loincs:
            return None, f"test '{code}' (LOINC) {TEMPERATURE_ROW}"
        if code in terms.loinc_not_used:
            return None, f"test '{code}': {terms.loinc_not_used[code]}"
        return None, None
    if not vocab.is_test(test) and _TEMPERATURE.search(test):
        return None, f"test {test!r} {TEMPERATURE_ROW}"
    return None, None
