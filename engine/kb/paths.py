# SPDX-License-Identifier: Apache-2.0
"""Where the bundled knowledge base lives.

A non-editable install ships ``rules/`` as the package ``engine.rules``; a source checkout that
was not installed finds it beside ``engine/``. Either way callers get one directory path.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def default_rules_dir() -> Path:
    """The directory of the bundled knowledge base (``rules/``)."""
    spec = importlib.util.find_spec("engine.rules")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            path = Path(location)
            if (path / "kb.yaml").exists():
                return path
    return Path(__file__).resolve().parent.parent.parent / "rules"
