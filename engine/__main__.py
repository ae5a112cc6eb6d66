# SPDX-License-Identifier: Apache-2.0
"""``python -m engine`` is the ``leukodx`` command."""

from engine.cli.entry import main

raise SystemExit(main())
