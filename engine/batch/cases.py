# SPDX-License-Identifier: Apache-2.0
"""Batch input and output: cases in, one JSON line per case out (contract section 4).

Inputs are case files (YAML or JSON), directories of them (searched recursively, in sorted
order), JSONL files with one patient per line, and results tables (CSV, TSV, Parquet: one row per
lab result, one case per patient; :mod:`engine.batch.grouping`) named as inputs themselves (a
directory's tables are not read: a folder of exports holds companion tables too), in any mix,
and standard input (the input ``-``) as JSONL, one case per line, read as it streams in.
:func:`iter_cases` reads them lazily, one case at a time, so memory does not grow with the number
of cases. A case that cannot be read becomes a :class:`CaseInput` carrying an error, never an
exception.

Each result line is ``{"id", "source_file", ["line",] ["expected", "acceptable",] "ok": true,
"differential": {...}[, "drugs": [...]]}`` or the same with ``"ok": false, "error": {"field",
"message"[, "file", "line", "column"]}`` (the error's file, line and column are given when one row
of a table is at fault; ``drugs`` is described in :mod:`engine.batch.exposure`). A case without an
id is called ``<file>`` (case files) or ``<file>:<line>`` (JSONL lines).
:class:`ResultWriter` writes each line with one unbuffered ``write`` as soon as it is known
(:func:`engine.batch.run.read_done_ids` reads an interrupted output back for ``--resume``).

Whatever one input holds (invalid UTF-8, nesting 100,000 deep, a lone surrogate, a line of a
gigabyte), it costs that case only: reading is bounded by :mod:`engine.kb.yamlio` and a JSONL
line longer than :data:`~engine.kb.yamlio.MAX_FILE_BYTES` is an error record. The run's own
output files are never read as input (``exclude``), and a failed write (a full disk) raises
:class:`OutputError` after cutting the file back to its last complete line, so that
``--resume`` carries on once there is space.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from engine import vocab
from engine.batch.grouping import Origin, TablePatient, count_patients, iter_patients, locate
from engine.batch.tables import TABLE_SUFFIXES, TableError, TableSpec, is_table
from engine.errors import InputError, LeukodxError
from engine.kb.yamlio import (
    MAX_FILE_BYTES,
    UTF8_BOM,
    YamlError,
    describe_shape,
    load_yaml,
    parse_json,
)

if TYPE_CHECKING:
    from engine.batch.handoff import HandoffFolder
    from engine.batch.messages import Spilled

#: The input that names standard input (given as this text, not as a ``Path``): JSONL or NDJSON,
#: one case per line, read as it streams in (``zcat export.jsonl.gz | leukodx batch -``).
STDIN = "-"
#: The ``source_file`` of the cases read from standard input (their ids default to
#: ``<stdin>:<line>``).
STDIN_NAME = "<stdin>"
CASE_SUFFIXES: tuple[str, ...] = (".yaml", ".yml", ".json")
JSONL_SUFFIXES: tuple[str, ...] = (".jsonl", ".ndjson")
_INPUT_SUFFIXES = frozenset(CASE_SUFFIXES + JSONL_SUFFIXES)


@dataclass(frozen=True)
class CaseError:
    """Why a case has no differential: the field at fault and a message naming it."""

    field: str
    message: str
    file: str | None = None
    line: int | None = None
    column: str | None = None


@dataclass(frozen=True)
class CaseInput:
    """One case as read: its run-unique id, where it came from, and its facts or its error.
    ``origins`` (table patients only) places each item of the facts in its file and line. A case
    whose id an earlier case took runs under its position (``file:line``) and names the id it
    gave in ``duplicate_of``."""

    id: str
    source_file: str
    line: int | None
    data: Any = None
    expected: tuple[str, ...] = ()
    acceptable: tuple[str, ...] = ()
    error: CaseError | None = None
    origins: dict[str, Origin] | None = None
    duplicate_of: str | None = None  # the id it gave, taken by an earlier case of the input


class OutputError(LeukodxError):
    """A result, summary or report file could not be written (a full disk, a lost mount)."""


#: Errors that mean "no space": a full file system, a quota, a file size limit.
NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
#: What an :class:`OutputError` for a full disk tells the user to do.
RESUME_HINT = "; free some space, then run again with --resume to finish"


def check_sources(paths: Iterable[str | Path], exclude: Iterable[str | Path] = ()) -> None:
    """Fail fast, before any output file is opened: every input path exists, and none is one of
    the run's own output files (``exclude``), which would be emptied before it is read."""
    outputs = {Path(x).resolve() for x in exclude}
    for p in (Path(x) for x in paths if not _is_stdin(x)):
        if not p.exists():
            raise InputError(
                str(p),
                "no such file or directory",
                expected="case files, directories of them, or JSONL files",
            )
        if p.is_file() and p.resolve() in outputs:
            expected = "inputs apart from --out, --summary, --report and --table"
            raise InputError(str(p), "this input is also an output of the run", expected=expected)


def _is_stdin(path: str | Path) -> bool:
    """Whether an input names standard input: the text ``-`` (a ``Path("-")`` is a file)."""
    return isinstance(path, str) and path == STDIN


def iter_sources(paths: Iterable[str | Path], exclude: Iterable[str | Path] = ()) -> Iterator[Path]:
    """Every input file under ``paths`` once, directories expanded recursively in sorted order
    (standard input, ``-``, is not a file and is left out: :func:`iter_case_refs` reads it).

    Files in ``exclude`` (the run's ``--out``, ``--summary`` and ``--report``, compared as resolved
    paths, so a link or ``./`` does not hide them) are skipped where a directory holds them: a run
    must never read its own output. Raises :class:`InputError` for a path that does not exist or
    is itself an output (checked before anything is read, so that a typo fails fast).
    """
    for source in _inputs(paths, exclude):
        if source is not None:
            yield source


def _inputs(
    paths: Iterable[str | Path], exclude: Iterable[str | Path] = ()
) -> Iterator[Path | None]:
    """:func:`iter_sources` with standard input in its place among the inputs, as None."""
    given = list(paths)
    exclude = list(exclude)
    check_sources(given, exclude)
    seen: set[str] = {os.path.realpath(x) for x in exclude}
    for item in given:
        if _is_stdin(item):
            yield None
            continue
        p = Path(item)
        found = _walk(p) if p.is_dir() else [(p, os.path.realpath(p))]
        for f, key in found:
            if key not in seen:
                seen.add(key)
                yield f


def _walk(top: Path) -> list[tuple[Path, str]]:
    """The input files under a directory as ``sorted(top.rglob("*"))`` finds them (directories
    reached through a symbolic link are not entered), each with its resolved path: one
    ``scandir`` per directory instead of a ``resolve()`` (an ``lstat`` per path component) and
    a ``Path`` comparison per file, which cost the main process of a batch more than the rest of
    its work per case."""
    found: list[tuple[tuple[str, ...], str, str]] = []  # (parts below top, path, resolved path)

    def visit(folder: str, real: str, parts: tuple[str, ...]) -> None:
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:  # unreadable or gone: rglob passes it by too
            return
        for entry in entries:
            try:
                is_dir, is_file, is_link = entry.is_dir(), entry.is_file(), entry.is_symlink()
            except OSError:
                continue
            if is_dir and not is_link:
                visit(entry.path, os.path.join(real, entry.name), (*parts, entry.name))
            elif is_file and _suffix(entry.name).lower() in _INPUT_SUFFIXES:
                key = os.path.realpath(entry.path) if is_link else os.path.join(real, entry.name)
                found.append(((*parts, entry.name), entry.path, key))

    visit(str(top), os.path.realpath(top), ())
    found.sort(key=lambda item: item[0])
    return [(Path(path), key) for _, path, key in found]


def folder_tables(paths: Iterable[str | Path]) -> list[str]:
    """The results tables inside the directories among ``paths``, which a directory does not
    read (its folder of exports holds companion tables too): named so that a run pointed at an
    export folder does not end with "cases 0" and exit 0 in silence (probe 10)."""
    found: list[str] = []
    for item in paths:
        if _is_stdin(item) or not Path(item).is_dir():
            continue
        for root, dirs, files in os.walk(item):
            dirs.sort()
            found += [
                display_path(Path(root) / name)
                for name in sorted(files)
                if _suffix(name).lower() in TABLE_SUFFIXES
            ]
    return found


def _suffix(name: str) -> str:
    """:attr:`pathlib.PurePath.suffix` of a file name."""
    i = name.rfind(".")
    return name[i:] if 0 < i < len(name) - 1 else ""


def is_jsonl(path: Path) -> bool:
    return path.suffix.lower() in JSONL_SUFFIXES


def iter_cases(
    paths: Iterable[str | Path], exclude: Iterable[str | Path] = (), *,
    tables: TableSpec | None = None,
) -> Iterator[CaseInput]:  # fmt: skip
    """Every case under ``paths``, lazily: one per case file, one per non-blank JSONL line, one
    per patient of a results table (joined with the companion tables of ``tables``)."""
    for item in iter_case_refs(paths, exclude, tables=tables):
        yield item.read() if isinstance(item, CaseRef) else item


@dataclass(frozen=True)
class CaseRef:
    """A case not read yet: a case file (``number`` None) or one line of a JSONL file (its bytes,
    or their start when ``too_long``). A batch worker reads it (:meth:`read`), so that the process
    that writes the results does not spend its time parsing YAML and JSON."""

    name: str  # the file as shown in records (display_path)
    path: str | None = None  # the file to read (case files)
    number: int | None = None  # the JSONL line number
    raw: bytes = b""
    too_long: bool = False

    def read(self) -> CaseInput:
        """The case as read; never raises (an unreadable case carries its error)."""
        if self.number is None:
            return _file_case(Path(self.path if self.path is not None else self.name))
        return _jsonl_case(self.raw, self.too_long, self.name, self.number)

    def unread(self) -> CaseInput:
        """What is known of the case without reading it: its place, which is also its id when
        it cannot be read (for a case whose reader died or ran out of time)."""
        if self.number is None:
            return CaseInput(self.name, self.name, None)
        return CaseInput(f"{self.name}:{self.number}", self.name, self.number)


def iter_case_refs(
    paths: Iterable[str | Path], exclude: Iterable[str | Path] = (), *,
    tables: TableSpec | None = None,
) -> Iterator[CaseRef | CaseInput]:  # fmt: skip
    """:func:`iter_cases` with the reading of case files and JSONL lines left to the consumer:
    a :class:`CaseRef` for each of those, a :class:`CaseInput` for each patient of a table
    (a table is joined here, in one pass) and for a JSONL file that cannot be opened. Standard
    input (``-``) is read as JSONL, a line at a time as it comes."""
    for path in _inputs(paths, exclude):
        if path is None:
            yield from _stdin_refs()
            continue
        suffix = path.suffix.lower()
        if suffix in JSONL_SUFFIXES:
            yield from _jsonl_refs(path)
        elif suffix in TABLE_SUFFIXES:
            yield from _table_cases(path, tables)
        else:
            yield CaseRef(display_path(path), path=str(path))


def count_cases(
    paths: Iterable[str | Path], exclude: Iterable[str | Path] = (), *,
    tables: TableSpec | None = None,
) -> int:  # fmt: skip
    """How many cases :func:`iter_cases` will yield (cheap: lines are counted, not parsed;
    a table is read once for its patient ids). Standard input is not counted: it can be read
    only once (the caller shows the count as unknown)."""
    total = 0
    for path in iter_sources(paths, exclude):
        if is_table(path):
            try:
                total += count_patients(path, tables)
            except InputError:
                total += 1  # read as one error record
            continue
        if not is_jsonl(path):
            total += 1
            continue
        try:
            with path.open("rb") as fh:
                total += sum(1 for raw, _ in _lines(fh) if raw.strip())
        except OSError:
            total += 1  # read as one error record
    return total


def _lines(fh: IO[bytes]) -> Iterator[tuple[bytes, bool]]:
    """The lines of a file as ``(bytes, too_long)``, holding at most one line's worth in memory
    (:data:`MAX_FILE_BYTES`); the bytes of a longer line are its start only. A UTF-8 byte order
    mark at the start of the file is dropped (it failed the first case as "not valid JSON")."""
    first = True
    while raw := fh.readline(MAX_FILE_BYTES + 1):
        if first:
            first = False
            raw = raw.removeprefix(UTF8_BOM)
        too_long = len(raw) > MAX_FILE_BYTES
        if too_long:
            while not raw.endswith(b"\n") and (rest := fh.readline(MAX_FILE_BYTES)):
                raw = raw[:64] + rest[-1:]  # keep a little: the start, and whether it ended
        yield raw, too_long


def display_path(path: Path) -> str:
    """A path as text that can be written as UTF-8 (a name of invalid bytes gets U+FFFD)."""
    return os.fsencode(path).decode("utf-8", "replace")


def _file_case(path: Path) -> CaseInput:
    name = display_path(path)
    try:
        data = load_yaml(path)
    except YamlError as exc:
        field = f"line {exc.line}" if exc.line else "file"
        message = f"{name}:{exc.line}: {exc.message}" if exc.line else f"{name}: {exc.message}"
        return CaseInput(name, name, None, error=CaseError(field, message + _stream_hint(path)))
    except Exception as exc:  # noqa: BLE001 - one unreadable file must not stop the batch
        message = f"{name}: cannot read: {type(exc).__name__}: {exc}"
        return CaseInput(name, name, None, error=CaseError("file", message))
    return _case(data, name, None, name)


def _stream_hint(path: Path) -> str:
    """For a pipe or device named as a case file (``/dev/stdin``, ``<(zcat x.jsonl.gz)``), which
    is read as one document: how to give a stream of JSON lines instead."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return ""
    if stat.S_ISREG(mode):
        return ""
    return (
        " (a named pipe or device is read as one case file; for JSON lines, one case per line, "
        "pipe them to 'leukodx batch -')"
    )


def _table_cases(path: Path, spec: TableSpec | None) -> Iterator[CaseInput]:
    """One case per patient of a results table; a table that cannot be read is one error record
    (it is read in full before its first patient comes, so no patient is half-reported)."""
    name = display_path(path)
    try:
        for patient in iter_patients(path, spec):
            yield _table_case(patient)
    except TableError as exc:
        yield CaseInput(name, name, None, error=CaseError("file", str(exc), name))


def _table_case(patient: TablePatient) -> CaseInput:
    if patient.error is not None or patient.data is None:
        e = patient.error or locate({}, "(top level)", "no data", patient.id)
        error = CaseError(e.field, e.message, e.file, e.line, e.column)
        return CaseInput(patient.id, patient.source_file, patient.line, error=error)
    case = _case(patient.data, patient.source_file, patient.line, f"patient '{patient.id}'")
    if case.error is not None:
        e = locate(patient.origins, case.error.field, case.error.message, patient.id)
        error = CaseError(e.field, e.message, e.file, e.line, e.column)
        return replace(case, error=error)
    return replace(case, origins=patient.origins)


def _jsonl_refs(path: Path) -> Iterator[CaseRef | CaseInput]:
    name = display_path(path)
    try:
        with path.open("rb") as fh:
            for number, (raw, too_long) in enumerate(_lines(fh), start=1):
                if raw.strip():
                    yield CaseRef(name, number=number, raw=raw, too_long=too_long)
    except OSError as exc:
        yield CaseInput(name, name, None, error=CaseError("file", f"{name}: cannot read: {exc}"))


def _stdin_refs() -> Iterator[CaseRef | CaseInput]:
    """The cases of standard input, JSONL (or NDJSON): one per non-blank line, each read as it
    arrives and each bad line its own error record, as for a ``.jsonl`` file."""
    try:
        stream: IO[bytes] = sys.stdin.buffer
        for number, (raw, too_long) in enumerate(_lines(stream), start=1):
            if raw.strip():
                yield CaseRef(STDIN_NAME, number=number, raw=raw, too_long=too_long)
    except (OSError, AttributeError, ValueError) as exc:  # closed, or not a byte stream
        message = f"{STDIN_NAME}: cannot read: {exc}"
        yield CaseInput(STDIN_NAME, STDIN_NAME, None, error=CaseError("file", message))


def _jsonl_case(raw: bytes, too_long: bool, name: str, number: int) -> CaseInput:
    where = f"{name}:{number}"
    if too_long:
        message = f"{where}: line too long: more than {MAX_FILE_BYTES} bytes for one case"
        return CaseInput(where, name, number, error=CaseError("json", message))
    try:
        data = parse_json(raw.decode("utf-8"), where)
    except UnicodeDecodeError as exc:
        return CaseInput(where, name, number, error=CaseError("json", f"{where}: {exc}"))
    except YamlError as exc:
        return CaseInput(where, name, number, error=CaseError("json", str(exc)))
    except Exception as exc:  # noqa: BLE001 - one unreadable line must not stop the batch
        message = f"{where}: cannot read: {type(exc).__name__}: {exc}"
        return CaseInput(where, name, number, error=CaseError("json", message))
    kind = data.get("resourceType") if isinstance(data, dict) else None
    if isinstance(kind, str) and kind != "Bundle":
        # a FHIR Bulk Data export holds one resource per line: a lone Observation is not a
        # patient, and evaluated as one, an ANC was read without the WBC of the line after it
        message = (
            f"{where}: a single FHIR {kind} resource is not a patient (this looks like a FHIR "
            "Bulk Data NDJSON export, one resource per line); give one patient per line as a "
            "Bundle of that patient's resources, or the whole export to 'leukodx diagnose' for "
            "one patient"
        )
        return CaseInput(where, name, number, error=CaseError("resourceType", message))
    return _case(data, name, number, where)


def _case(data: Any, source: str, line: int | None, where: str) -> CaseInput:
    """Check the case-file keys (contract 4); the patient facts are checked by ``diagnose``."""
    if not isinstance(data, dict):
        message = f"{where}: a case must be a mapping of patient facts (got {describe_shape(data)})"
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


def head_fields(case: CaseInput) -> dict[str, Any]:
    """The fields of a result line before ``"ok"``."""
    head: dict[str, Any] = {"id": case.id, "source_file": case.source_file}
    if case.line is not None:
        head["line"] = case.line
    if case.duplicate_of is not None:
        head["duplicate_of"] = case.duplicate_of
    if case.expected or case.acceptable:
        head["expected"] = list(case.expected)
        head["acceptable"] = list(case.acceptable)
    return head


def record_head(case: CaseInput) -> str:
    """The JSON text of a result line up to (and including) the comma before ``"ok"``."""
    return json.dumps(head_fields(case), ensure_ascii=False)[:-1] + ", "


def ok_record(case: CaseInput, differential_json: str, drugs_json: str = "") -> str:
    """A result line for a case with a differential (``differential_json`` is compact JSON) and,
    when the patient takes known drugs, their courses (``drugs_json``)."""
    drugs = f', "drugs": {drugs_json}' if drugs_json else ""
    return f'{record_head(case)}"ok": true, "differential": {differential_json}{drugs}}}'


def error_record(case: CaseInput, error: CaseError) -> str:
    """A result line for a case that failed; the error names the field at fault (and, for a row
    of a table, its file, line and column)."""
    body = json.dumps(error_fields(error), ensure_ascii=False)
    return f'{record_head(case)}"ok": false, "error": {body}}}'


def error_fields(error: CaseError) -> dict[str, Any]:
    """The ``error`` object of a result line."""
    fields: dict[str, Any] = {"field": error.field, "message": error.message}
    for key in ("file", "line", "column"):
        if getattr(error, key) is not None:
            fields[key] = getattr(error, key)
    return fields


def encode_line(line: str) -> bytes:
    """A result line as written: UTF-8 with its newline. ``backslashreplace``: a lone surrogate
    becomes its JSON escape, keeping the line valid JSON."""
    return (line + "\n").encode("utf-8", "backslashreplace")


class ResultWriter:
    """Appends result lines to a file, each with one unbuffered write, so a kill loses no line
    that was reported finished (at most the one being written, which :func:`read_done_ids`
    repairs).

    A write that fails (a full disk: ENOSPC, a quota, a file size limit) cuts the file back to its
    last complete line and raises :class:`OutputError`, so the file stays valid JSONL and
    ``--resume`` carries on where it stopped once space is freed."""

    def __init__(self, path: str | Path, *, append: bool) -> None:
        self.path = Path(path)
        # Not O_APPEND: ``sendfile`` refuses a destination opened for appending, and this is
        # the file's only writer, so appending is a seek to its end.
        try:
            self._fd = os.open(
                self.path, os.O_WRONLY | os.O_CREAT | (0 if append else os.O_TRUNC), 0o644
            )
        except OSError as exc:
            raise output_error(self.path, exc, "open") from exc
        if append:
            try:
                os.lseek(self._fd, 0, os.SEEK_END)
            except OSError:  # a pipe or a terminal: writes go at its end anyway
                pass

    def write(self, line: str) -> None:
        self.write_bytes(encode_line(line))

    def write_bytes(self, data: bytes) -> None:
        """Write one encoded line (:func:`encode_line`), as it came from a worker."""
        start = self._position()
        try:
            while data:
                written = os.write(self._fd, data)
                data = data[written:]
        except OSError as exc:
            raise self._failed(start, exc) from exc

    def write_spilled(self, handoff: HandoffFolder, spilled: Spilled) -> None:
        """Write one line a worker left in the handoff folder (:mod:`engine.batch.handoff`),
        copied by the kernel; the line is released whether or not it could be written."""
        start = self._position()
        try:
            handoff.copy_to(self._fd, spilled)
        except OSError as exc:
            raise self._failed(start, exc) from exc

    def _position(self) -> int | None:
        try:
            return os.lseek(self._fd, 0, os.SEEK_CUR)
        except OSError:  # a pipe or a terminal: nothing to cut back
            return None

    def _failed(self, start: int | None, exc: OSError) -> OutputError:
        """Cut the file back to where the line began (never leave half a line behind)."""
        try:
            if start is not None:
                os.ftruncate(self._fd, start)
                os.lseek(self._fd, start, os.SEEK_SET)
        except OSError:
            pass  # read_done_ids repairs a cut last line on --resume
        return output_error(self.path, exc, "write to")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def output_error(path: str | Path, exc: OSError, verb: str) -> OutputError:
    """An :class:`OutputError` saying what failed, and what to do when the disk is full."""
    reason = exc.strerror or str(exc)
    hint = RESUME_HINT if exc.errno in NO_SPACE else ""
    return OutputError(f"cannot {verb} {display_path(Path(path))}: {reason}{hint}")
