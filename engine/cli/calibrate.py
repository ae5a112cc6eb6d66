# SPDX-License-Identifier: Apache-2.0
"""The ``leukodx calibrate`` subcommand; part of the command line.

Fits the evidence weights and cause priors to development cases (:mod:`engine.calibrate`) and
reports before/after figures from nested grouped cross-validation. Exit codes: 0 done (skipped
case files are listed on stderr and in the report), 2 invalid arguments, no usable cases, or the
``calibrate`` extra (numpy, scipy) missing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

from engine.calibrate.evaluate import evaluate
from engine.calibrate.features import assign_folds, authored_model, group_cases, load_cases
from engine.calibrate.fit import design, require_extra
from engine.calibrate.headroom import Setting, headroom
from engine.calibrate.report import (
    RunInfo,
    fitted_yaml,
    headroom_table,
    summary_table,
    to_json,
    to_markdown,
)
from engine.errors import InputError
from engine.kb.load import load_knowledge_base

EXIT_OK = 0


def _default_backend() -> str:
    return "clips" if importlib.util.find_spec("clips") is not None else "experta"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``calibrate`` to the ``leukodx`` command."""
    c = sub.add_parser(
        "calibrate",
        help="fit evidence weights and priors to cases; report nested grouped-CV figures",
        description="Fit the evidence weights and cause priors to development cases by "
        "penalised maximum likelihood and report before/after figures from nested grouped "
        "cross-validation (cases of one publication stay in one fold). Needs the calibrate "
        "extra. Exit 0 done, 2 invalid arguments or missing extra.",
    )
    c.add_argument("paths", nargs="+", metavar="PATH", help="case file or folder (recursive)")
    c.add_argument("--folds", type=int, default=5, help="cross-validation folds (default: 5)")
    c.add_argument("--seed", type=int, default=0, help="fold assignment seed (default: 0)")
    c.add_argument("--rules", metavar="DIR", help="knowledge base directory (default: bundled)")
    c.add_argument(
        "--backend",
        choices=("clips", "experta"),
        default=None,
        help="inference backend (default: clips when installed, else experta)",
    )
    c.add_argument("--report", metavar="FILE", help="write a Markdown report")
    c.add_argument("--json", metavar="FILE", help="write the figures and fitted values as JSON")
    c.add_argument("--write", metavar="FITTED_YAML", help="write the fitted values (YAML)")
    c.add_argument(
        "--headroom",
        action="store_true",
        help="also measure whether the model or the cases are the limit: a learning curve and "
        "free residual weights over everything the engine read (slower; changes no weight)",
    )
    c.add_argument("--quiet", action="store_true", help="no progress on stderr")
    c.set_defaults(func=cmd_calibrate)


def _progress(quiet: bool, message: str) -> None:
    if not quiet:
        print(f"leukodx calibrate: {message}", file=sys.stderr, flush=True)


def cmd_calibrate(args: argparse.Namespace) -> int:
    if args.folds < 2:
        raise InputError("--folds", "must be at least 2", got=args.folds)
    require_extra()
    backend = args.backend or _default_backend()
    kb = load_knowledge_base(args.rules)
    today = dt.date.today()
    _progress(args.quiet, f"running the cases ({backend})")
    cases, skipped = load_cases(args.paths, kb, backend, today=today)
    for s in skipped:
        print(f"leukodx calibrate: skipped {s.file}: {s.message}", file=sys.stderr)
    if not cases:
        raise InputError("PATH", "no usable case files", got=" ".join(args.paths))
    model = authored_model(kb)
    groups = group_cases(cases)
    assign_folds(groups, args.folds, args.seed)  # checks folds <= publications before fitting
    _progress(args.quiet, f"{len(cases)} cases, {len(set(groups))} publications")
    result = evaluate(
        cases,
        model,
        groups,
        folds=args.folds,
        seed=args.seed,
        on_step=lambda msg: _progress(args.quiet, msg),
    )
    setting = Setting(design(cases, model), model, cases, groups, args.folds, args.seed, result.lam)
    room = (
        headroom(setting, on_step=lambda msg: _progress(args.quiet, msg)) if args.headroom else None
    )
    info = RunInfo(tuple(args.paths), backend, kb.name, kb.version, kb.content_hash)
    outputs: tuple[tuple[str | None, Callable[[], str]], ...] = (
        (args.report, lambda: to_markdown(result, model, skipped, info, room)),
        (args.json, lambda: to_json(result, model, skipped, info, room)),
        (args.write, lambda: fitted_yaml(result, model, today)),
    )
    for target, render in outputs:
        if target:
            Path(target).write_text(render(), encoding="utf-8")
            _progress(args.quiet, f"wrote {target}")
    if skipped:
        print(f"skipped {len(skipped)} case file(s) (listed on stderr)")
    print(summary_table(result))
    if room is not None:
        print(headroom_table(room))
    return EXIT_OK
