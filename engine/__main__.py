# SPDX-License-Identifier: Apache-2.0
"""``python -m engine`` is the ``leukodx`` command."""

from engine.cli.main import main

raise SystemExit(main())
