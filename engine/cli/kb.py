# SPDX-License-Identifier: Apache-2.0
"""The ``leukodx kb`` subcommands; part of the command line.

``leukodx kb book -o book.html [--rules DIR]`` writes the knowledge book
(:mod:`engine.report.book`): the whole knowledge base as one self-contained HTML page for
clinical reviewers, with a place to record a decision per rule. Exit codes: 0 written, 2 invalid
knowledge base, 4 the file could not be written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.kb.load import load_knowledge_base
from engine.report.book import knowledge_book

EXIT_OK, EXIT_WRITE = 0, 4


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``kb`` (with ``kb book``) to the ``leukodx`` command."""
    kb = sub.add_parser(
        "kb",
        help="knowledge-base tools for reviewers (kb book)",
        description="Knowledge-base tools for clinical reviewers.",
    )
    kb_sub = kb.add_subparsers(dest="kb_command", required=True, metavar="KB_COMMAND")
    book = kb_sub.add_parser(
        "book",
        help="write the knowledge book: every cause, rule, weight, citation and review state",
        description="Write the knowledge book, one self-contained HTML page (no network) with "
        "every cause and its profile and rules, each rule's statement, weight and origin, the "
        "citations with links, the review state of every file, and a form to record decisions "
        "that exports reviewers: YAML. Exit 0 written, 2 invalid knowledge base, 4 write error.",
    )
    book.add_argument("-o", "--output", required=True, metavar="FILE", help="HTML file to write")
    book.add_argument("--rules", metavar="DIR", help="knowledge base directory (default: bundled)")
    book.set_defaults(func=cmd_book)


def cmd_book(args: argparse.Namespace) -> int:
    kb = load_knowledge_base(args.rules)
    page = knowledge_book(kb)
    opened = False
    try:
        with open(args.output, "w", encoding="utf-8") as fh:
            opened = True
            fh.write(page)
    except OSError as exc:
        if opened:  # never a file that could not even be opened
            _remove_partial(Path(args.output))
        print(f"leukodx: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_WRITE
    print(
        f"knowledge book written to {args.output}: {len(kb.causes)} causes, {len(kb.rules)} rules"
    )
    return EXIT_OK


def _remove_partial(path: Path) -> None:
    """A book cut short by a full disk looks whole to a reviewer who opens it: remove it (a
    device or a pipe is left alone)."""
    try:
        if path.is_file():
            path.unlink()
    except OSError:
        pass  # the write error is what the user is told
