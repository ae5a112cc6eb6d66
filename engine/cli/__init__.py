# SPDX-License-Identifier: Apache-2.0
"""The ``leukodx`` command line: the only layer that prints or sets an exit code.

:mod:`engine.cli.main` parses arguments and runs ``diagnose`` and ``lint``;
:mod:`engine.cli.batch` and :mod:`engine.cli.serve` add the ``batch``/``report`` and ``serve``
subcommands; :mod:`engine.cli.progress` draws batch progress on a terminal.
The entry point is ``engine.cli.main:main``; this package re-exports nothing, so that
``engine.cli.main`` always names the module.
"""
