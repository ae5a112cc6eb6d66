# SPDX-License-Identifier: Apache-2.0
"""The compiled CLIPS environment kept on disk between processes (CLIPS ``bsave``/``bload``).

Compiling the bundled knowledge base for CLIPS (generating about a thousand defrules and having
CLIPS parse them) was the largest single step of a cold ``leukodx diagnose`` after the imports,
about 45 ms; loading the binary image that CLIPS saves of the same environment takes about 5.
Like the knowledge-base pickle (:mod:`engine.kb.cache`, whose folder and trust rules it shares),
the image is only ever a speed-up:

* The key is the knowledge base's content hash, a fingerprint of the engine code that builds the
  rules and compiles them (``engine/*.py``, ``engine/kb/*.py``, ``engine/backends/*.py``, and
  Python's version) and the identity of the clipspy extension (path, size, modification time):
  any change to a rule, to that code or to the CLIPS library misses and recompiles.
* Only a knowledge base read from its files by :func:`engine.kb.load.load_knowledge_base` is
  looked up (:func:`engine.kb.load.is_loaded`): the rules of one built or altered by hand are not
  determined by its content hash. The caller checks that.
* CLIPS does not validate a binary image and may crash on a damaged one, so the image's SHA-256
  is part of its file name and an image whose bytes do not match is never given to CLIPS
  (and is deleted). Images are written to a temporary name and renamed, so a reader never sees a
  half-written one.
* A missing, read-only or unwritable folder, or any error while saving, costs only the speed-up.

This module knows files, not clipspy: :mod:`engine.backends.clips` does the ``bsave``/``bload``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from engine.kb import cache as kb_cache

#: The code an image depends on besides what the knowledge-base pickle depends on
#: (:func:`engine.kb.cache.code_fingerprint`), relative to the ``engine`` package.
CODE_GLOBS: tuple[str, ...] = ("backends/*.py",)
PREFIX, SUFFIX = "clips-", ".bin"
#: Images kept per folder (each is about 1 MB for the bundled knowledge base).
MAX_IMAGES = 4
#: Bumped when the way an image is made changes in a way the code fingerprint cannot see.
FORMAT = "leukodx-clips-image-1"


def image_key(content_hash: str, library: Path) -> str | None:
    """The key of the image of the knowledge base with ``content_hash`` compiled by this code
    with the CLIPS extension ``library``; None when the cache is off or the library is not
    there to identify."""
    if kb_cache.cache_dir() is None:
        return None
    try:
        info = library.stat()
    except OSError:
        return None
    parts = (
        FORMAT, content_hash, kb_cache.code_fingerprint(), kb_cache.code_fingerprint(CODE_GLOBS),
        str(library.resolve()), str(info.st_size), str(info.st_mtime_ns),
    )  # fmt: skip
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def find(key: str) -> Path | None:
    """The verified image of ``key``, or None (no cache, no image, or none to trust)."""
    folder = kb_cache.cache_dir()
    if folder is None:
        return None
    try:
        if not kb_cache.trusted(folder):
            return None
        head = f"{PREFIX}{key}-"
        for path in sorted(folder.glob(f"{head}*{SUFFIX}")):
            if not kb_cache.trusted(path):
                continue
            if _digest(path.read_bytes()) == path.name[len(head) : -len(SUFFIX)]:
                return path
            path.unlink(missing_ok=True)  # damaged: never bloaded, rebuilt by the next save
    except Exception:  # noqa: BLE001 - a cache that cannot be read only costs speed
        return None
    return None


def save(key: str, write: Callable[[str], None]) -> Path | None:
    """Store the image that ``write(path)`` writes under ``key``, atomically, named by its
    SHA-256; the stored path, or None when anything failed (only speed is lost)."""
    try:
        folder = kb_cache.private_folder()
        if folder is None:
            return None
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{PREFIX}", suffix=".tmp")
        os.close(fd)
        try:
            write(tmp)
            final = folder / f"{PREFIX}{key}-{_digest(Path(tmp).read_bytes())}{SUFFIX}"
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        kb_cache.prune(folder, f"{PREFIX}*{SUFFIX}", keep=final.name, limit=MAX_IMAGES)
        return final
    except Exception:  # noqa: BLE001 - a cache that cannot be written only costs speed
        return None
