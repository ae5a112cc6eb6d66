# SPDX-License-Identifier: Apache-2.0
"""The ``leukodx`` command line: the only layer that prints or sets an exit code.

:mod:`engine.cli.main` parses arguments and runs ``diagnose`` and ``lint``;
:mod:`engine.cli.batch` and :mod:`engine.cli.serve` add the ``batch``/``report`` and ``serve``
subcommands; :mod:`engine.cli.progress` draws batch progress on a terminal.
The entry point is ``engine.cli.entry:main`` (it answers ``--version`` without loading the rest);
this package re-exports nothing, so that ``engine.cli.main`` always names the module.
"""
