# SPDX-License-Identifier: Apache-2.0
"""The validated knowledge base kept on disk between processes, so a cold start skips YAML.

Reading and validating ``rules/`` is most of a cold ``leukodx diagnose`` (the pure-Python YAML
parser alone is about three quarters of it); unpickling the validated result is about twenty times
faster. The cache is only ever a speed-up:

* The key is the knowledge base's content hash, its folder, the day (review-due warnings depend
  on it) and a fingerprint of the engine code that defines the pickled classes, so any change to a
  rule or to that code misses the cache and rebuilds.
* The folder is ``$LEUKODX_CACHE_DIR``, else ``$XDG_CACHE_HOME/leukodx``, else
  ``~/.cache/leukodx``; ``LEUKODX_CACHE_DIR=off`` (or empty) turns the cache off.
* A missing, read-only or unwritable folder, a corrupt or truncated entry, or any error while
  reading or writing costs only the speed-up: the knowledge base is then built from YAML.
* The same folder keeps the compiled CLIPS images (:mod:`engine.backends.clips_image`), under
  the same rules (:func:`private_folder`, :func:`trusted`, :func:`prune`).
* A pickle is trusted only as far as the folder it lies in: the folder is created private
  (mode 0700) and an entry is read only if it belongs to this user and no one else can write it
  or its folder.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import pickle
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

CACHE_ENV = "LEUKODX_CACHE_DIR"
_OFF = frozenset({"", "0", "off", "none", "false"})
#: Code whose classes end up in the pickle, or whose behaviour shapes what is built.
_CODE_GLOBS = ("*.py", "kb/*.py")


def cache_dir() -> Path | None:
    """The cache folder, or None when the cache is turned off."""
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        return None if configured.strip().lower() in _OFF else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "leukodx"


@functools.lru_cache(maxsize=4)
def code_fingerprint(globs: tuple[str, ...] = _CODE_GLOBS) -> str:
    """A hash of the engine code that defines and builds the knowledge base (``globs``, relative
    to the ``engine`` package), and of Python's version (pickles are not portable across
    either)."""
    package = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(sys.version.encode())
    for pattern in globs:
        for path in sorted(package.glob(pattern)):
            h.update(path.relative_to(package).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def entry_key(root: Path, digest: str, today: dt.date) -> str:
    """The cache key of one knowledge base as built on one day by this code."""
    parts = (str(root.resolve()), digest, today.isoformat(), code_fingerprint())
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def read(key: str) -> Any | None:
    """The cached object of ``key``, or None (no cache, no entry, or an entry not to trust)."""
    folder = cache_dir()
    if folder is None:
        return None
    path = folder / f"kb-{key}.pickle"
    try:
        if not (trusted(folder) and trusted(path)):
            return None
        with path.open("rb") as f:
            return pickle.load(f)
    except Exception:  # noqa: BLE001 - a cache that cannot be read only costs speed
        return None


def write(key: str, value: Any) -> None:
    """Store ``value`` under ``key``, atomically; any failure is ignored (only speed is lost)."""
    try:
        folder = private_folder()
        if folder is None:
            return
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".kb-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, folder / f"kb-{key}.pickle")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        prune(folder, "kb-*.pickle", keep=f"kb-{key}.pickle")
    except Exception:  # noqa: BLE001 - a cache that cannot be written only costs speed
        return


def private_folder() -> Path | None:
    """The cache folder, created private (mode 0700) if missing; None when the cache is off or
    the folder is not ours alone. Raises OSError when it cannot be created."""
    folder = cache_dir()
    if folder is None:
        return None
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder if trusted(folder) else None


#: Entries kept per folder: one knowledge base per day and code version adds up otherwise.
MAX_ENTRIES = 8


def prune(folder: Path, pattern: str, keep: str, limit: int = MAX_ENTRIES) -> None:
    """Drop the oldest entries matching ``pattern`` beyond ``limit`` (never ``keep``, the one
    just written)."""
    entries = sorted(folder.glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[limit:]:
        if old.name != keep:
            old.unlink(missing_ok=True)


def trusted(path: Path) -> bool:
    """Owned by this user and writable by no one else (where the platform has owners)."""
    info = path.stat()
    if not hasattr(os, "getuid"):
        return True
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
