# SPDX-License-Identifier: Apache-2.0
"""The ``leukodx`` entry point: argument parsing, ``diagnose`` and ``lint``, and exit codes.

Exit codes: 0 success, 2 invalid input or knowledge base (the message names the field or
``file:line``; no traceback), 1 internal error. The ``batch``/``report`` and ``serve``
subcommands live in :mod:`engine.cli.batch` and :mod:`engine.cli.serve`, each with a
``register(subparsers)``, imported only when their command (or ``--help``) is asked for;
everything heavy is imported inside the command that needs it, so a cold ``leukodx diagnose``
loads only the pipeline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from engine.backends.base import DEFAULT_BACKEND
from engine.cli import tables as table_options
from engine.errors import InputError, KnowledgeBaseError, LeukodxError, Problem
from engine.version import __version__
from engine.vocab import AUDIENCES

if TYPE_CHECKING:
    from engine.kb.load import KnowledgeBase
    from engine.patient import PatientFacts

#: Subcommands other than ``diagnose`` and ``lint``: the module that registers each, imported
#: only when that command (or ``--help``) is asked for, so that ``leukodx diagnose`` does not
#: load the worker pool, the service or the calibration code on every call.
SUBCOMMANDS: dict[str, str] = {
    "batch": "engine.cli.batch",
    "report": "engine.cli.batch",
    "serve": "engine.cli.serve",
    "calibrate": "engine.cli.calibrate",
    "kb": "engine.cli.kb",
}

EXIT_OK, EXIT_INTERNAL, EXIT_INVALID = 0, 1, 2


def _read_stdin(stream: TextIO) -> object:
    """Standard input read as bytes, never more than the reader's size limit (plus one byte to
    tell that it was exceeded), so invalid UTF-8 or an endless stream is an input error."""
    from engine.kb.yamlio import MAX_FILE_BYTES, UTF8_BOM, YamlError, parse_bytes

    raw = stream.buffer.read(MAX_FILE_BYTES + 1) if hasattr(stream, "buffer") else (
        stream.read(MAX_FILE_BYTES + 1).encode("utf-8", "surrogatepass")
    )  # fmt: skip
    raw = raw.removeprefix(UTF8_BOM)  # NDJSON too, which is read below
    try:
        return parse_bytes(raw, "<stdin>")
    except YamlError as exc:
        if raw.lstrip().startswith(b"{") and b"\n" in raw.strip():  # FHIR Bulk Data NDJSON
            from engine.fhir.convert import parse_ndjson

            try:
                return parse_ndjson(raw.decode("utf-8"))
            except (InputError, UnicodeDecodeError):
                pass  # not NDJSON either: the reader's own message says what is wrong
        raise InputError(
            f"line {exc.line}" if exc.line else "input", exc.message, source="<stdin>"
        ) from exc


#: The one-patient input of ``diagnose`` and ``report`` (:func:`read_patient_input`).
PATIENT_INPUT_HELP = (
    "patient/case file (YAML or JSON, or a FHIR Bundle), FHIR NDJSON (.ndjson), one patient's "
    "results table (.csv, .tsv, .parquet), or - for stdin"
)


def read_patient_input(
    args: argparse.Namespace,
) -> tuple[object, Callable[[InputError], InputError]]:
    """The one patient that ``diagnose`` and ``report`` read from ``args.file`` and the table
    options: ``-`` (standard input: YAML, JSON or NDJSON), a one-patient results table joined with
    its companion tables, or a patient/case file or ``.ndjson`` file (returned as its path, read
    by :func:`engine.api.read_patient_source`); and the function that places a validation error
    in the table (the identity for other inputs). Both commands take exactly the same inputs."""
    facts: object = _read_stdin(sys.stdin) if args.file == "-" else args.file
    if args.file == "-" and not isinstance(facts, (dict, list)):  # never read text as a path
        raise InputError(
            "<stdin>",
            "standard input takes one patient as YAML or JSON (a mapping, or a list of FHIR "
            "resources); give a results table as a file (.csv, .tsv, .parquet)",
            got=type(facts).__name__,
        )
    located: Callable[[InputError], InputError] = lambda exc: exc  # noqa: E731
    table = args.file != "-" and table_options.names_a_table(args.file)
    if table or table_options.given(args):
        from engine.batch.grouping import single_patient

        spec = table_options.table_spec(args)
        if table:  # one patient's results table (CSV, Parquet)
            facts, located = single_patient(args.file, spec)
        else:
            option = f"--{spec.companions()[0][0]}" if spec.companions() else "--columns"
            raise InputError(option, "companion tables and renames go with a results table "
                             "(.csv, .tsv, .parquet)", got=args.file)  # fmt: skip
    return facts, located


def cmd_diagnose(args: argparse.Namespace) -> int:
    """One patient's differential. Imports only what the asked view needs: the table reader for
    a results table, the why-not machinery for ``--explain``, the note renderer for text."""
    from engine.api import diagnose
    from engine.kb.load import load_knowledge_base

    facts, located = read_patient_input(args)
    if args.audience == "patient" and (args.explain or args.full):
        option = "--explain" if args.explain else "--full"
        raise InputError(option, f"{option} is a clinician's view, and --audience patient asks "
                         "for the plain-language note", expected="one of the two")  # fmt: skip
    kb = load_knowledge_base(args.rules)
    cause = _checked_cause(kb, args.explain) if args.explain else None
    today = dt.date.today()
    try:
        result = diagnose(facts, kb=kb, backend=args.backend, today=today, audience=args.audience)  # type: ignore[arg-type]
    except InputError as exc:
        raise located(exc) from None
    if args.json:  # --json excludes --explain and --full
        print(result.to_json(indent=2 if args.pretty else None))
        return EXIT_OK
    from engine import render

    if args.audience == "patient":
        print(render.patient_note(result))
    elif cause is not None:
        from engine.why_not import explain_cause, why_not, why_not_text

        if result.candidate(cause) is None:
            patient = _patient(facts, today)
            found = why_not(kb, patient, result, cause, backend=args.backend, today=today)
            print(why_not_text(found, result))
        else:
            print(explain_cause(result, cause))
    else:
        print(render.full_note(result) if args.full else render.consult_note(result))
    return EXIT_OK


def _checked_cause(kb: KnowledgeBase, cause: str) -> str:
    """The ``--explain`` cause, checked against the knowledge base before anything runs."""
    from engine.why_not import check_cause

    return check_cause(kb, cause)


def _patient(facts: object, today: dt.date) -> PatientFacts:
    """The validated patient behind a ``diagnose`` input that has already been diagnosed (so it
    is known to parse), for the why-not of an unlisted cause."""
    from engine.api import read_patient_source
    from engine.fhir import convert as fhir  # as in diagnose(): only FHIR input pays for it
    from engine.patient import parse_patient

    data = read_patient_source(facts) if isinstance(facts, str) else facts
    if fhir.is_fhir(data):
        data = fhir.from_fhir(data).facts
    return parse_patient(data, today=today)


def cmd_lint(args: argparse.Namespace) -> int:
    from engine.kb.review import lint

    problems = lint(args.rules_dir, strict=args.strict, require_approved=args.require_approved)
    problems += _terminology_problems(args.rules_dir)
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity == "warning"]
    quiet = [w for w in warnings if w.code in _SUMMARISED and not args.verbose]
    for p in errors:
        print(p, file=sys.stderr)
    for w in warnings:
        if w not in quiet:
            print(w)
    counts = {code: sum(1 for w in quiet if w.code == code) for code in _SUMMARISED}
    notes = [f"{n} {_SUMMARISED[code]}" for code, n in counts.items() if n]
    note = f" ({'; '.join(notes)}: --verbose lists them)" if notes else ""
    if errors:
        print(f"{len(errors)} error(s), {len(warnings)} warning(s){note}", file=sys.stderr)
        return EXIT_INVALID
    print(f"knowledge base OK: 0 errors, {len(warnings)} warning(s){note}")
    return EXIT_OK


def _terminology_problems(rules_dir: str | None) -> list[Problem]:
    """The FHIR terminology tables beside the rules (``terminology/``), checked as the FHIR
    reader would load them: the knowledge base loader does not read them (the core knows no
    FHIR), so without this a broken table would show only when FHIR data is converted."""
    from engine.fhir.terms import load_terminology
    from engine.kb.paths import default_rules_dir

    path = (Path(rules_dir) if rules_dir else default_rules_dir()) / "terminology" / "fhir.yaml"
    if not path.is_file():
        return []
    try:
        load_terminology(path)
    except KnowledgeBaseError as exc:
        return list(exc.problems)
    return []


#: Warning codes shown as a count unless --verbose.
_SUMMARISED = {
    "unused-reference": "unused reference(s)",
    "draft": "draft rule file(s), which --strict rejects",
    "plain-missing": "note on rules without plain-language text",
    "url-only": "journal article(s) cited by URL only",
}


def _parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; of the subcommands in :data:`SUBCOMMANDS`, only the one named in ``argv`` is
    registered when ``argv`` names one (all of them for ``--help`` or anything else)."""
    parser = argparse.ArgumentParser(
        prog="leukodx",
        description="Citation-backed differential diagnosis of leukopenia and neutropenia. "
        "Decision support, not a medical device.",
    )
    parser.add_argument("--version", action="version", version=f"leukodx {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    d = sub.add_parser("diagnose", help="rank the causes for one patient or case file")
    d.add_argument("file", help=PATIENT_INPUT_HELP)
    view = d.add_mutually_exclusive_group()
    view.add_argument("--json", action="store_true", help="print the Differential as JSON")
    d.add_argument(
        "--pretty", action="store_true", help="with --json: indented JSON (default: compact)"
    )
    view.add_argument(
        "--full",
        action="store_true",
        help="the complete note: every reason grouped by source, every next step, references",
    )
    view.add_argument(
        "--explain",
        metavar="CAUSE",
        help="every step behind one cause's score, or why a cause is not listed",
    )
    d.add_argument(
        "--backend",
        default=DEFAULT_BACKEND,
        help="inference backend: clips (default) or experta (the pure-Python reference)",
    )
    d.add_argument("--rules", metavar="DIR", help="knowledge base directory (default: bundled)")
    d.add_argument(
        "--audience",
        choices=AUDIENCES,
        default="clinician",
        help="clinician (default) or patient: plain language, no scores or jargon",
    )
    table_options.add_table_options(d)
    d.set_defaults(func=cmd_diagnose)
    lt = sub.add_parser("lint", help="validate a knowledge base and list every problem")
    lt.add_argument("rules_dir", nargs="?", help="knowledge base directory (default: bundled)")
    lt.add_argument("--verbose", action="store_true", help="list every warning")
    lt.add_argument(
        "--strict",
        action="store_true",
        help="treat draft rule files and past review-by dates as errors",
    )
    lt.add_argument(
        "--require-approved",
        action="store_true",
        help="fail on every rule file that a recorded review has not approved",
    )
    lt.set_defaults(func=cmd_lint)
    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    asked = words[0] if words else None
    if asked in ("diagnose", "lint"):
        modules: list[str] = []
    elif asked in SUBCOMMANDS:
        modules = [SUBCOMMANDS[asked]]
    else:  # --help, no command or a mistyped one: every command, for the usage and did-you-mean
        modules = list(dict.fromkeys(SUBCOMMANDS.values()))
    for module in modules:  # in --help order
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser(argv).parse_args(argv)
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        code: int = args.func(args)
        return code
    except LeukodxError as exc:  # invalid input, knowledge base or backend: the message says where
        print(f"leukodx: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("leukodx: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence: no traceback
        print(
            f"leukodx: internal error: {type(exc).__name__}: {exc} (please report this)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
