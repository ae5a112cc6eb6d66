# SPDX-License-Identifier: Apache-2.0
"""The ``leukodx batch`` and ``leukodx report`` subcommands; part of the command line.

``batch`` exit codes: 0 every case ok, 3 some cases failed (each failure is an error record in
the output), 2 invalid arguments, inputs or knowledge base, 4 an output file could not be written
(a full disk: every line written before is complete, and ``--resume`` finishes the run once there
is space), 130 interrupted (every finished case is in ``--out``; ``--resume`` finishes the run).
``report`` exits like ``diagnose`` and reads what it reads. The ``--out``, ``--summary``,
``--report`` and ``--table`` files are never read as input, even inside an input directory, and
each is checked before the run starts (a directory, a missing folder: exit 2 naming the option).
``-`` among the inputs reads JSONL from standard input, a line at a time.

Results tables (``.csv``, ``.tsv``, ``.parquet``) named as inputs give one case per patient,
joined with ``--patients``, ``--medications`` and ``--conditions`` (:mod:`engine.batch.grouping`);
their headers are checked before anything is written (exit 2). ``--table`` writes one row per case
(:mod:`engine.batch.flat`).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from types import FrameType
from typing import TextIO

from engine.backends.base import DEFAULT_BACKEND
from engine.batch.cases import (
    RESUME_HINT,
    STDIN,
    OutputError,
    check_sources,
    count_cases,
    folder_tables,
    output_error,
)
from engine.batch.flat import DEFAULT_TOP_K, check_table_path, write_table
from engine.batch.grouping import open_tables
from engine.batch.metrics import (
    Tally,
    case_counts,
    format_drugs,
    format_summary,
    iter_records,
    write_summary,
)
from engine.batch.run import (
    DEFAULT_CHUNK,
    DEFAULT_TIMEOUT,
    EXECUTORS,
    BatchOptions,
    count_recorded,
    run_batch,
)
from engine.batch.tables import TableError, TableSpec, is_table
from engine.cli.main import PATIENT_INPUT_HELP, read_patient_input
from engine.cli.progress import Reporter
from engine.cli.tables import add_table_options, table_spec
from engine.errors import InputError

EXIT_OK, EXIT_INVALID, EXIT_SOME_FAILED, EXIT_IO, EXIT_INTERRUPTED = 0, 2, 3, 4, 130


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``batch`` and ``report`` to the ``leukodx`` command."""
    b = sub.add_parser(
        "batch",
        help="evaluate many cases: one JSON line per case, metrics, report",
        description="Evaluate case files, directories of them (recursive), JSONL "
        "files (one patient per line), JSONL on standard input (-) and results tables (CSV, TSV, "
        "Parquet: one row per lab result, one case per patient). Exit 0 all ok, 3 some cases "
        "failed, 2 invalid arguments or knowledge base, 4 an output could not be written "
        "(a full disk: --resume finishes the run).",
    )
    b.add_argument(
        "paths", nargs="+", metavar="PATH",
        help="case file, directory, JSONL file, results table (.csv, .tsv, .parquet), or - for "
        "JSONL on standard input (one case per line)",
    )  # fmt: skip
    b.add_argument(
        "--out", metavar="FILE", help="results JSONL (default: stdout when it is a pipe or a file)"
    )
    b.add_argument("--summary", metavar="FILE", help="write the metrics as JSON")
    b.add_argument(
        "--table", metavar="FILE", help="write one row per case to FILE (.csv or .parquet)"
    )
    b.add_argument(
        "--table-top",
        type=int,
        default=DEFAULT_TOP_K,
        metavar="K",
        help=f"causes per row in --table (default: {DEFAULT_TOP_K})",
    )
    add_table_options(b)
    b.add_argument("--report", metavar="FILE", help="write a self-contained HTML report")
    b.add_argument(
        "--report-cases",
        type=int,
        default=500,
        metavar="N",
        help="explanations embedded in the report (default: 500)",
    )
    b.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="worker processes (default: one per core this process may use, which a "
        "container's CPU quota or taskset limits)",
    )
    b.add_argument(
        "--backend",
        default=DEFAULT_BACKEND,
        help="inference backend: clips (default) or experta (the pure-Python reference)",
    )
    b.add_argument("--rules", metavar="DIR", help="knowledge base directory (default: bundled)")
    b.add_argument(
        "--resume", action="store_true", help="skip the ids already in --out and append the rest"
    )
    b.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="local process pool (default) or a Dask cluster",
    )
    b.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler, e.g. tcp://host:8786 (default: a local cluster)",
    )
    b.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"time limit per case (default: {DEFAULT_TIMEOUT:g}; 0: none)",
    )
    b.add_argument(
        "--chunk-size",
        type=int,
        default=DEFAULT_CHUNK,
        metavar="N",
        help=f"cases sent to a worker at a time (default: {DEFAULT_CHUNK})",
    )
    b.add_argument("--quiet", action="store_true", help="no progress and no table")
    b.set_defaults(func=cmd_batch)
    r = sub.add_parser(
        "report",
        help="an HTML report for one patient (the inputs of diagnose)",
        description="Write the HTML report of one patient. It reads exactly what 'leukodx "
        "diagnose' reads: a patient or case file, a FHIR Bundle or NDJSON, one patient's results "
        "table with its companion tables, or - for standard input.",
    )
    r.add_argument("file", help=PATIENT_INPUT_HELP)
    r.add_argument("-o", "--output", metavar="FILE", help="HTML file to write (default: stdout)")
    r.add_argument(
        "--backend",
        default=DEFAULT_BACKEND,
        help="inference backend: clips (default) or experta (the pure-Python reference)",
    )
    r.add_argument("--rules", metavar="DIR", help="knowledge base directory (default: bundled)")
    add_table_options(r)
    r.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    """One patient's HTML report, read as ``diagnose`` reads it (:func:`read_patient_input`); the
    output file is checked before anything is read or run."""
    from engine.report.patient import patient_report  # loaded by the command that uses it

    if args.output:
        check_output_path("--output", args.output)
    facts, located = read_patient_input(args)
    try:
        html = patient_report(facts, kb=args.rules, backend=args.backend)  # type: ignore[arg-type]
    except InputError as exc:
        raise located(exc) from None
    if args.output:
        Path(args.output).write_text(html, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(html)
    return EXIT_OK


def _check(args: argparse.Namespace) -> None:
    if args.resume and not args.out:
        raise InputError("--resume", "needs --out (the file to resume)")
    if args.scheduler and args.executor != "dask":
        raise InputError("--scheduler", "only applies with --executor dask")
    for name in ("workers", "chunk_size", "report_cases"):
        if getattr(args, name) < 0 or (name == "chunk_size" and args.chunk_size == 0):
            raise InputError(
                f"--{name.replace('_', '-')}", "must be a positive number", got=getattr(args, name)
            )
    if args.timeout < 0:
        raise InputError(
            "--timeout", "must be 0 (no limit) or a number of seconds", got=args.timeout
        )
    if args.table_top < 1:
        raise InputError("--table-top", "must be a positive number", got=args.table_top)
    if args.table:
        check_table_path(args.table)
    if args.paths.count(STDIN) > 1:
        raise InputError(STDIN, "standard input is given more than once", expected="one '-'")
    for option in ("out", "summary", "report", "table"):
        if getattr(args, option):
            check_output_path(f"--{option}", getattr(args, option))
    _check_distinct_outputs(args)


def check_output_path(option: str, value: str) -> None:
    """Before anything runs: an output file that cannot be written (a directory, a folder that
    does not exist, a read-only file or folder) is an :class:`InputError` naming its option
    (exit 2). It was found only when the file was written, after the whole batch had run (exit 4,
    and no summary). Nothing is created: a file that does not exist yet is written at the end."""
    path = Path(value)
    problem = None
    if path.is_dir():
        problem = "it is a directory"
    elif value.endswith(("/", os.sep)):  # Path() drops the slash: a file would be written
        problem = "it ends with '/', so it names a directory"
    elif path.exists():
        if not os.access(path, os.W_OK):
            problem = "the file is not writable"
    elif not path.parent.exists():
        problem = f"its folder {path.parent} does not exist"
    elif not path.parent.is_dir():
        problem = f"{path.parent} is not a folder"
    elif not os.access(path.parent, os.W_OK | os.X_OK):
        problem = f"its folder {path.parent} is not writable"
    if problem:
        raise InputError(option, f"cannot write {value}: {problem}",
                         expected="a file in a folder that exists and can be written")  # fmt: skip


def _check_distinct_outputs(args: argparse.Namespace) -> None:
    """Two outputs of one run in the same file would overwrite each other: the table, summary or
    report written last would replace the results (which they are read from) without a word."""
    seen: dict[Path, str] = {}
    for option in ("out", "summary", "report", "table"):
        value = getattr(args, option)
        if not value or (Path(value).exists() and not Path(value).is_file()):
            continue  # /dev/null, a pipe: nothing is read back from them
        key = Path(value).resolve()
        if key in seen:
            raise InputError(
                f"--{option}",
                f"is the same file as {seen[key]}",
                got=value,
                expected="a different file for each of --out, --summary, --report and --table",
            )
        seen[key] = f"--{option}"


def _check_tables(args: argparse.Namespace, spec: TableSpec, outputs: list[str | Path]) -> None:
    """Before anything is written: the headers of every table (exit 2 on a missing column or an
    unused rename), and companion tables only with exactly one results table. With other
    inputs beside it, a results table whose header cannot be read is not a reason to stop: it
    becomes its own error record and the other inputs are evaluated (one bad file never stops
    the others); a companion table or a ``--columns`` rename applies to every patient, so its
    error still stops the run."""
    tables = [p for p in args.paths if is_table(p)]
    if spec.companions() and len(tables) != 1:
        raise InputError(
            "--patients/--medications/--conditions",
            f"companion tables need exactly one results table among the inputs (got {len(tables)})",
        )
    if spec.renames and not tables:
        raise InputError("--columns", "renames columns of a results table, and none is given")
    check_sources([p for _, p in spec.companions()], outputs)
    for path in tables:
        check_sources([path], outputs)
        try:
            open_tables(path, spec)
        except TableError as exc:
            if len(args.paths) == 1 or spec.companions() or exc.field == "--columns":
                raise


def cmd_batch(args: argparse.Namespace) -> int:
    _check(args)
    options = BatchOptions(
        rules=args.rules,
        backend=args.backend,
        workers=args.workers,
        timeout=args.timeout or None,
        chunk_size=args.chunk_size,
        executor=args.executor,
        scheduler=args.scheduler,
    )
    others = [p for p in (args.summary, args.report, args.table) if p]  # never read as input
    spec = table_spec(args)
    _check_tables(args, spec, [p for p in (args.out, *others) if p])
    unread = folder_tables(args.paths)
    if unread:
        shown = ", ".join(unread[:5]) + (f" and {len(unread) - 5} more" if len(unread) > 5 else "")
        print(
            f"leukodx: {len(unread)} results table(s) inside the input folders are not read "
            f"({shown}): a folder is read for case and JSONL files; name a table as an input "
            "(with --patients, --medications and --conditions for its companions)",
            file=sys.stderr,
        )
    with _results_file(args.out) as out:
        total = 0  # for the progress shown, which --quiet leaves out: no pass over the inputs
        if not args.quiet and STDIN not in args.paths:  # standard input is read once: unknown
            total = count_cases(args.paths, [out, *others], tables=spec)
            total -= count_recorded(out) if args.resume else 0
        reporter = Reporter(total, quiet=args.quiet)
        echo = args.out is None and not sys.stdout.isatty()  # JSONL on a terminal helps no one
        if args.out is None and not echo and not args.quiet:
            print(
                "leukodx: results are not kept on a terminal (use --out FILE, or pipe stdout)",
                file=sys.stderr,
            )
        try:
            with _sigterm_as_interrupt(), reporter:
                stats = run_batch(
                    args.paths,
                    out,
                    options,
                    resume=args.resume,
                    on_record=_echo if echo else None,
                    exclude=others,
                    tables=spec,
                    on_done=reporter.record,
                )
            if unread and not stats.tally.summary.n_cases:
                print("leukodx: no cases were read (see above)", file=sys.stderr)
                return EXIT_INVALID
            return _finish(args, out, stats.tally, table_to_stdout=not echo)
        except KeyboardInterrupt:
            where = f"in {out}" if args.out else "on stdout"
            print(
                f"leukodx: interrupted; {reporter.done} case(s) of this run recorded {where}"
                + (" (run again with --resume to finish)" if args.out else ""),
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        except OutputError as exc:
            message = str(exc)
            if not args.out:  # results went to stdout through a temporary file: no --resume
                message = message.replace(
                    RESUME_HINT,
                    f"; results written to stdout are kept in a temporary file ({out.parent}) "
                    "while the run lasts: free space there (or set TMPDIR), or give --out FILE",
                )
            print(
                f"leukodx: I/O error: {message} ({reporter.done} case(s) of this run recorded)",
                file=sys.stderr,
            )
            return EXIT_IO
        except BrokenPipeError:  # the reader of stdout went away (``| head``): say it, and fail
            _quiet_stdout()
            print(
                f"leukodx: standard output was closed by its reader after {reporter.done} "
                "case(s); the other cases were not run",
                file=sys.stderr,
            )
            return EXIT_IO


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush of a closed pipe does not
    print a BrokenPipeError of its own at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _echo(line: bytes, ok: bool) -> None:
    """Each result line also on standard output (``--out`` not given, stdout not a terminal)."""
    sys.stdout.flush()
    sys.stdout.buffer.write(line)
    sys.stdout.buffer.flush()


def _finish(args: argparse.Namespace, out: Path, tally: Tally, *, table_to_stdout: bool) -> int:
    """The summary, report, table and terminal figures; the figures were added up during the
    run (:class:`~engine.batch.metrics.Tally`), the lists of misses and errors are read back."""
    summary = tally.summary
    if args.summary:
        _write(args.summary, partial(write_summary, summary, out))
    if args.report:
        from engine.report.batch import write_batch_report

        _write(args.report, partial(write_batch_report, summary, out, max_cases=args.report_cases))
    if args.table:
        try:
            write_table(args.table, iter_records(out), args.table_top, expected=summary.n > 0)
        except OSError as exc:
            raise output_error(args.table, exc, "write") from exc
    if not args.quiet:
        table = format_summary(summary, misses=tally.misses) if summary.n else case_counts(summary)
        drugs = format_drugs(summary)
        table += f"\n\n{drugs}" if drugs else ""
        from engine.differential import DISCLAIMER

        print(f"{table}\n{DISCLAIMER}", file=sys.stdout if table_to_stdout else sys.stderr)
    return EXIT_SOME_FAILED if summary.n_failed else EXIT_OK


def _write(path: str, write: Callable[[TextIO], object]) -> None:
    """Write one output file; a failure (a full disk) is an :class:`OutputError` (exit 4)."""
    try:
        with open(path, "w", encoding="utf-8") as fh:
            write(fh)
    except OSError as exc:
        raise output_error(path, exc, "write") from exc


@contextmanager
def _results_file(out: str | None) -> Iterator[Path]:
    """``--out``, or a temporary file (removed afterwards) when results go to stdout."""
    if out:
        yield Path(out)
        return
    with tempfile.TemporaryDirectory(prefix="leukodx-batch-") as tmp:
        yield Path(tmp) / "results.jsonl"


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A ``kill`` (SIGTERM) stops the run like Ctrl-C: workers stopped, output left valid."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    if os.name != "posix":  # pragma: no cover
        yield
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
