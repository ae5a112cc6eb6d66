# SPDX-License-Identifier: Apache-2.0
"""Batch input and output: cases in, one JSON line per case out (contract section 4).

Inputs are case files (YAML or JSON), directories of them (searched recursively, in sorted
order) and JSONL files with one patient per line, in any mix. :func:`iter_cases` reads them
lazily, one case at a time, so memory does not grow with the number of cases. A case that cannot
be read becomes a :class:`CaseInput` carrying an error, never an exception.

Each result line is ``{"id", "source_file", ["line",] ["expected", "acceptable",] "ok": true,
"differential": {...}}`` or the same with ``"ok": false, "error": {"field", "message"}``. A case
without an id is called ``<file>`` (case files) or ``<file>:<line>`` (JSONL lines).
:class:`ResultWriter` writes each line with one unbuffered ``write`` as soon as it is known, and
:func:`read_done_ids` reads an interrupted output back for ``--resume``, repairing a last line
cut short by a kill.
"""

from __future__ import annotations

import hashlib
import json
import os
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from engine import vocab
from engine.errors import InputError
from engine.kb.yamlio import YamlError, load_yaml, parse_json

CASE_SUFFIXES: tuple[str, ...] = (".yaml", ".yml", ".json")
JSONL_SUFFIXES: tuple[str, ...] = (".jsonl", ".ndjson")


@dataclass(frozen=True)
class CaseError:
    """Why a case has no differential: the field at fault and a message naming it."""

    field: str
    message: str


@dataclass(frozen=True)
class CaseInput:
    """One case as read: its run-unique id, where it came from, and its facts or its error."""

    id: str
    source_file: str
    line: int | None
    data: Any = None
    expected: tuple[str, ...] = ()
    acceptable: tuple[str, ...] = ()
    error: CaseError | None = None


def iter_sources(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Every input file under ``paths`` once, directories expanded recursively in sorted order.

    Raises :class:`InputError` for a path that does not exist (checked before anything is read,
    so that a typo fails fast).
    """
    given = [Path(p) for p in paths]
    for p in given:
        if not p.exists():
            raise InputError(
                str(p),
                "no such file or directory",
                expected="case files, directories of them, or JSONL files",
            )
    seen: set[Path] = set()
    for p in given:
        found = sorted(x for x in p.rglob("*") if x.is_file() and _is_input(x))
        for f in found if p.is_dir() else [p]:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                yield f


def _is_input(path: Path) -> bool:
    return path.suffix.lower() in CASE_SUFFIXES + JSONL_SUFFIXES


def is_jsonl(path: Path) -> bool:
    return path.suffix.lower() in JSONL_SUFFIXES


def iter_cases(paths: Iterable[str | Path]) -> Iterator[CaseInput]:
    """Every case under ``paths``, lazily: one per case file, one per non-blank JSONL line."""
    for path in iter_sources(paths):
        if is_jsonl(path):
            yield from _jsonl_cases(path)
        else:
            yield _file_case(path)


def count_cases(paths: Iterable[str | Path]) -> int:
    """How many cases :func:`iter_cases` will yield (cheap: lines are counted, not parsed)."""
    total = 0
    for path in iter_sources(paths):
        if not is_jsonl(path):
            total += 1
            continue
        with path.open("rb") as fh:
            total += sum(1 for raw in fh if raw.strip())
    return total


def _file_case(path: Path) -> CaseInput:
    name = str(path)
    try:
        data = load_yaml(path)
    except YamlError as exc:
        field = f"line {exc.line}" if exc.line else "file"
        return CaseInput(name, name, None, error=CaseError(field, str(exc)))
    return _case(data, name, None, name)


def _jsonl_cases(path: Path) -> Iterator[CaseInput]:
    name = str(path)
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            where = f"{name}:{number}"
            try:
                data = parse_json(raw.decode("utf-8"), where)
            except UnicodeDecodeError as exc:
                yield CaseInput(where, name, number, error=CaseError("json", f"{where}: {exc}"))
                continue
            except YamlError as exc:
                yield CaseInput(where, name, number, error=CaseError("json", str(exc)))
                continue
            yield _case(data, name, number, where)


def _case(data: Any, source: str, line: int | None, where: str) -> CaseInput:
    """Check the case-file keys (contract 4); the patient facts are checked by ``diagnose``."""
    if not isinstance(data, dict):
        message = f"{where}: a case must be a mapping of patient facts (got {type(data).__name__})"
        return CaseInput(where, source, line, error=CaseError("(top level)", message))
    raw_id = data.get("id")
    case_id = str(raw_id) if isinstance(raw_id, (str, int)) and str(raw_id).strip() else where
    try:
        expected = _causes(data, "expected", where)
        acceptable = _causes(data, "acceptable", where)
    except InputError as exc:
        return CaseInput(case_id, source, line, error=CaseError(exc.field, str(exc)))
    return CaseInput(case_id, source, line, data, expected, acceptable)


def _causes(data: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        raise InputError(key, "expected a list of cause ids", got=value, source=where)
    for i, cause in enumerate(items):
        if cause not in vocab.CAUSES:
            raise InputError(
                f"{key}[{i}]",
                f"unknown cause id '{cause}'",
                source=where,
                expected="a cause id of contract section 2",
                suggestion=vocab.suggest(cause, vocab.CAUSES),
            )
    return tuple(items)


class DigestSet:
    """A set of case ids kept as 64-bit BLAKE2b digests in one flat array (open addressing), so
    that remembering an id costs about 16 bytes instead of a Python string. Two different ids
    share a digest with a probability of about n**2 / 2**65 (3e-10 for 100 000 cases)."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._slots = array("Q", bytes(8 * 1024))
        self._count = 0
        for case_id in ids:
            self.add(case_id)

    def __len__(self) -> int:
        return self._count

    def __contains__(self, case_id: object) -> bool:
        return isinstance(case_id, str) and self._slots[self._find(_digest(case_id))] != 0

    def add(self, case_id: str) -> None:
        digest = _digest(case_id)
        slot = self._find(digest)
        if self._slots[slot] == 0:
            self._slots[slot] = digest
            self._count += 1
            if 2 * self._count > len(self._slots):
                self._grow()

    def _find(self, digest: int) -> int:
        mask = len(self._slots) - 1
        slot = digest & mask
        while self._slots[slot] not in (0, digest):
            slot = (slot + 1) & mask
        return slot

    def _grow(self) -> None:
        old = self._slots
        self._slots = array("Q", bytes(16 * len(old)))
        for digest in old:
            if digest:
                self._slots[self._find(digest)] = digest


def _digest(case_id: str) -> int:
    """A nonzero 64-bit digest (zero marks an empty slot)."""
    raw = hashlib.blake2b(case_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(raw, "big") or 1


class IdGuard:
    """Keeps ids unique within a run and skips the ids a resumed run has already recorded."""

    def __init__(self, done: DigestSet | Iterable[str] = ()) -> None:
        self.done = done if isinstance(done, DigestSet) else DigestSet(done)
        self.seen = DigestSet()

    def admit(self, case: CaseInput) -> CaseInput | None:
        """The case to run (a duplicate id becomes an error record), or None to skip it."""
        if case.id in self.done:
            return None
        if case.id not in self.seen:
            self.seen.add(case.id)
            return case
        where = f"{case.source_file}:{case.line}" if case.line else case.source_file
        new_id, k = where, 1
        while new_id in self.seen:
            k += 1
            new_id = f"{where}#{k}"
        if new_id in self.done:
            return None
        self.seen.add(new_id)
        error = CaseError(
            "id",
            f"{where}: id: duplicate id '{case.id}' (ids must be unique "
            "within a batch; this case was recorded under its position)",
        )
        return replace(case, id=new_id, data=None, error=error)


def record_head(case: CaseInput) -> str:
    """The JSON text of a result line up to (and including) the comma before ``"ok"``."""
    head: dict[str, Any] = {"id": case.id, "source_file": case.source_file}
    if case.line is not None:
        head["line"] = case.line
    if case.expected or case.acceptable:
        head["expected"] = list(case.expected)
        head["acceptable"] = list(case.acceptable)
    return json.dumps(head, ensure_ascii=False)[:-1] + ", "


def ok_record(case: CaseInput, differential_json: str) -> str:
    """A result line for a case with a differential (``differential_json`` is compact JSON)."""
    return f'{record_head(case)}"ok": true, "differential": {differential_json}}}'


def error_record(case: CaseInput, error: CaseError) -> str:
    """A result line for a case that failed; the error names the field at fault."""
    body = json.dumps({"field": error.field, "message": error.message}, ensure_ascii=False)
    return f'{record_head(case)}"ok": false, "error": {body}}}'


class ResultWriter:
    """Appends result lines to a file, each with one unbuffered write, so a kill loses no line
    that was reported finished (at most the one being written, which :func:`read_done_ids`
    repairs)."""

    def __init__(self, path: str | Path, *, append: bool) -> None:
        self.path = Path(path)
        self._fd = os.open(
            self.path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC), 0o644
        )

    def write(self, line: str) -> None:
        data = (line + "\n").encode("utf-8")
        while data:
            written = os.write(self._fd, data)
            data = data[written:]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_done_ids(path: str | Path) -> DigestSet:
    """The ids already recorded in an output file, for ``--resume``.

    A last line cut short by a kill (no newline, not valid JSON) is removed from the file; a
    complete last line missing only its newline gets one. Any other unreadable line is an
    :class:`InputError` naming ``file:line`` (the file is not ours to rewrite).
    """
    p = Path(path)
    done = DigestSet()
    if not p.exists():
        return done
    with p.open("rb+") as fh:
        offset, number = 0, 0
        for raw in fh:
            number += 1
            if not raw.strip():
                offset += len(raw)
                continue
            record = _parse_record(raw)
            if record is None and not raw.endswith(b"\n"):
                fh.truncate(offset)
                break
            if record is None:
                raise InputError(
                    f"{p}:{number}",
                    "not a batch result line",
                    expected='a JSON object with "id" and "ok"',
                )
            if not raw.endswith(b"\n"):
                fh.write(b"\n")
            done.add(record)
            offset += len(raw)
    return done


def _parse_record(raw: bytes) -> str | None:
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if isinstance(record, dict) and "ok" in record:
        case_id = record.get("id")
        return case_id if isinstance(case_id, str) else None
    return None
