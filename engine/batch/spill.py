# SPDX-License-Identifier: Apache-2.0
"""A temporary on-disk store of table rows by patient, for tables not sorted by patient.

A results table whose rows are not grouped by patient, and the companion tables (patients,
medications, conditions, which follow no order of the results), cannot be joined in one pass
without holding them in memory. They are written instead into a SQLite database in a temporary
directory (removed on :meth:`Spill.close`), indexed by patient id, and read back one patient at a
time. Memory stays bounded by SQLite's page cache (:data:`CACHE_KIB`) plus one insert batch
(:data:`BATCH_ROWS` rows) and one patient's rows; the disk used is about the size of the tables.
Patients come back in the order they first appeared in the rows loaded. Patient ids are stored
as their JSON text (:func:`_key`): an id read from invalid UTF-8 holds lone surrogates, which
SQLite cannot store as text, and such a patient must still become its own error record.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from engine.batch.tables import Row

#: SQLite page cache, KiB (the store's memory bound beyond one batch and one patient).
CACHE_KIB = 8192
#: Rows inserted per transaction.
BATCH_ROWS = 5000


class Spill:
    """Rows of several tables (numbered by ``source``), stored by patient id."""

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="leukodx-tables-"))
        self._db = sqlite3.connect(self._dir / "rows.sqlite", isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", f"cache_size=-{CACHE_KIB}",
                       "temp_store=FILE"):  # fmt: skip
            self._db.execute(f"PRAGMA {pragma}")
        self._db.executescript(
            "CREATE TABLE rows (pid TEXT, source INTEGER, line INTEGER, cells TEXT, error TEXT);"
            "CREATE TABLE patients (seq INTEGER PRIMARY KEY, pid TEXT UNIQUE, done INTEGER);"
        )
        self._indexed = False

    def load(self, source: int, rows: Iterable[Row]) -> None:
        """Store every row of one table (a row without a patient id is kept as an orphan)."""
        it = iter(rows)
        while batch := list(islice(it, BATCH_ROWS)):
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO rows VALUES (?, ?, ?, ?, ?)",
                (
                    (_key(r.patient_id), source, r.line, json.dumps(r.cells), _error(r))
                    for r in batch
                ),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO patients (pid, done) VALUES (?, 0)",
                ((_key(r.patient_id),) for r in batch if r.patient_id is not None),
            )
            self._db.execute("COMMIT")
        self._indexed = False

    def _index(self) -> None:
        if not self._indexed:
            self._db.execute("CREATE INDEX IF NOT EXISTS by_pid ON rows (pid, source, line)")
            self._indexed = True

    def take(self, pid: str) -> list[tuple[int, Row]]:
        """Every stored row of one patient, by table then line; the patient is marked done."""
        self._index()
        found = self._db.execute(
            "SELECT source, line, cells, error FROM rows WHERE pid = ? ORDER BY source, line",
            (_key(pid),),
        ).fetchall()
        self._db.execute("UPDATE patients SET done = 1 WHERE pid = ?", (_key(pid),))
        return [(source, _row(line, cells, error)) for source, line, cells, error in found]

    def pending(self) -> Iterator[str]:
        """The patients not yet taken, in order of first appearance (read lazily)."""
        last = 0
        while True:
            found = self._db.execute(
                "SELECT seq, pid FROM patients WHERE seq > ? AND done = 0 ORDER BY seq LIMIT 500",
                (last,),
            ).fetchall()
            if not found:
                return
            for seq, pid in found:
                last = seq
                yield json.loads(pid)

    def orphans(self) -> Iterator[tuple[int, Row]]:
        """The rows without a patient id, by table then line."""
        self._index()
        cursor = self._db.execute(
            "SELECT source, line, cells, error FROM rows WHERE pid IS NULL ORDER BY source, line"
        )
        for source, line, cells, error in cursor:
            yield source, _row(line, cells, error)

    def close(self) -> None:
        self._db.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def _key(pid: str | None) -> str | None:
    """A patient id as stored: its JSON text, ASCII only (lone surrogates escaped)."""
    return None if pid is None else json.dumps(pid)


def _error(row: Row) -> str | None:
    return None if row.error is None else json.dumps(list(row.error))


def _row(line: int, cells: str, error: str | None) -> Row:
    problem = json.loads(error) if error else None
    return Row(line, json.loads(cells), None if problem is None else (problem[0], problem[1]))
