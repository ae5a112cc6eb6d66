# SPDX-License-Identifier: Apache-2.0
"""Remembering many ids in little memory: a set of 64-bit digests in one flat array.

A batch must remember every case id it has written (ids are unique within a run, ``--resume``
skips those done) and a table reader every patient id it has finished, without memory growing
by a Python string per id.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable


class DigestSet:
    """A set of case ids kept as 64-bit BLAKE2b digests in one flat array (open addressing), so
    that remembering an id costs about 16 bytes instead of a Python string. Two different ids
    share a digest with a probability of about n**2 / 2**65 (3e-10 for 100 000 cases)."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._slots = array("Q", bytes(8 * 1024))
        self._count = 0
        for case_id in ids:
            self.add(case_id)

    def __len__(self) -> int:
        return self._count

    def __contains__(self, case_id: object) -> bool:
        return isinstance(case_id, str) and self._slots[self._find(_digest(case_id))] != 0

    def add(self, case_id: str) -> None:
        digest = _digest(case_id)
        slot = self._find(digest)
        if self._slots[slot] == 0:
            self._slots[slot] = digest
            self._count += 1
            if 2 * self._count > len(self._slots):
                self._grow()

    def _find(self, digest: int) -> int:
        mask = len(self._slots) - 1
        slot = digest & mask
        while self._slots[slot] not in (0, digest):
            slot = (slot + 1) & mask
        return slot

    def _grow(self) -> None:
        old = self._slots
        self._slots = array("Q", bytes(16 * len(old)))
        for digest in old:
            if digest:
                self._slots[self._find(digest)] = digest


def _digest(case_id: str) -> int:
    """A nonzero 64-bit digest (zero marks an empty slot). ``surrogatepass``: an id read back from
    an edited output file may hold a lone surrogate, which must not stop ``--resume``."""
    raw = hashlib.blake2b(case_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(raw, "big") or 1
