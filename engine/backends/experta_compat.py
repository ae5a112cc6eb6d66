# SPDX-License-Identifier: Apache-2.0
"""Import experta on Python >= 3.10 — the one place that works around its packaging.

experta 1.9.4 (the latest release, 2019) pins ``frozendict==1.2``, which subclasses
``collections.Mapping``; those aliases were removed from :mod:`collections` in Python 3.10, so
``import experta`` fails with ``AttributeError: module 'collections' has no attribute 'Mapping'``
(nilp0inter/experta#34). pip cannot override a transitive pin from our pyproject, so instead we
restore the removed aliases (pointing at :mod:`collections.abc`, which is what they always were)
before the import. Only names that are missing are set; nothing existing is replaced.

experta also calls ``logging.basicConfig()`` at import time, which would configure the host
application's root logger; a library must not do that, so the call is suppressed during import.
"""

from __future__ import annotations

import collections
import collections.abc
import importlib
import logging
import threading
from types import ModuleType
from typing import Any

#: The aliases Python 3.10 removed from ``collections`` that frozendict 1.2 and experta use.
REMOVED_ALIASES: tuple[str, ...] = (
    "Mapping", "MutableMapping", "Sequence", "MutableSequence", "Iterable", "Callable",
    "Hashable", "Set", "MutableSet",
)  # fmt: skip

_LOCK = threading.Lock()


def restore_collections_aliases() -> list[str]:
    """Alias the removed ``collections.X`` names to ``collections.abc.X``; return those set."""
    added = []
    for name in REMOVED_ALIASES:
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))
            added.append(name)
    return added


def import_experta() -> ModuleType:
    """Import and return the ``experta`` package, with the fixes above applied."""
    with _LOCK:
        restore_collections_aliases()
        real = logging.basicConfig

        def _no_basic_config(*args: Any, **kwargs: Any) -> None:
            return None

        logging.basicConfig = _no_basic_config
        try:
            module = importlib.import_module("experta")
        finally:
            logging.basicConfig = real
    return module
