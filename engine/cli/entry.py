# SPDX-License-Identifier: Apache-2.0
"""The ``leukodx`` console script: ``--version`` answers at once, anything else loads the CLI.

``leukodx --version`` is what installers, package managers and support scripts call; importing the
whole command line (pydantic models, the knowledge-base loader, every subcommand) for it made it
cost five times a bare ``import pydantic, yaml``. This module imports nothing heavy.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from engine.version import __version__


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        print(f"leukodx {__version__}")
        return 0
    from engine.cli.main import main as run  # the whole command line

    return run(args)
