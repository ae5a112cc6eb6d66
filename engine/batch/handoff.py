# SPDX-License-Identifier: Apache-2.0
"""Result lines handed from local workers to the writing process through files, not a pipe.

A result line is 100-200 KB of JSON. Sent over a worker's pipe it is pickled, copied into the
pipe, read back in pieces, unpickled and written: with two workers on two cores the main process
spent about 0.4 ms of CPU per case on that, time taken from the workers (issue 18). Here the
worker writes its line once, to a segment file of its own (:class:`SegmentWriter`), and sends
only where it is (:class:`~engine.batch.messages.Spilled`); the main process has the kernel copy
those bytes into the results file (:meth:`HandoffFolder.copy_to`, ``sendfile``), and reads them
only when it needs them (a line echoed to standard output, a duplicate's line re-headed).

Segments are small (:data:`SEGMENT_BYTES`) and removed as soon as every line in them has been
written and their worker has moved on to the next one (lines of one worker arrive in the order
it wrote them), so the folder holds a few megabytes whatever the size of the batch. The folder
is removed when the run ends, interrupted or not. A worker that cannot write its segment (a
full disk) sends the line itself, as before.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from engine.batch.messages import Spilled

#: A worker starts a new segment once its current one holds this many bytes.
SEGMENT_BYTES = 8 * 1024 * 1024

#: ``sendfile`` errors that mean "not here" (a file system or kernel without it), not a failure.
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV}


class SegmentWriter:
    """A worker's side: appends result lines to its own numbered segment files in ``folder``."""

    def __init__(self, folder: str | Path, limit: int = SEGMENT_BYTES) -> None:
        self.folder = Path(folder)
        self.limit = limit
        self._tag = f"w{os.getpid()}x{os.urandom(3).hex()}"  # unique even if a pid comes back
        self._number = 0
        self._fd = -1
        self._size = 0
        self.broken = False  # a write failed: lines go over the pipe from then on

    def put(self, line: bytes) -> Spilled | None:
        """Write ``line``; where it is, or None when it could not be written (send it instead)."""
        if self.broken:
            return None
        try:
            if self._fd < 0 or self._size >= self.limit:
                self._next_segment()
            offset = self._size
            _write_all(self._fd, line)
            self._size += len(line)
        except OSError:
            self.broken = True
            self.close()
            return None
        return Spilled(self._name(), offset, len(line))

    def _name(self) -> str:
        return f"{self._tag}-{self._number:06d}"

    def _next_segment(self) -> None:
        self.close()
        self._number += 1
        self._fd = os.open(self.folder / self._name(), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._size = 0

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class HandoffFolder:
    """The writing process's side: the folder workers write to, and the lines they wrote there.

    Every :class:`Spilled` a worker reports must be given back once, by :meth:`copy_to`,
    :meth:`take` or :meth:`release`: that is how a segment is known to be finished with."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="leukodx-handoff-"))
        self._fds: dict[str, int] = {}
        self._pending: Counter[str] = Counter()
        self._current: dict[str, str] = {}  # worker tag -> the segment it writes now
        self._retired: set[str] = set()

    def arrived(self, spilled: Spilled) -> None:
        """A worker reported ``spilled``: its earlier segments will get no more lines."""
        self._pending[spilled.segment] += 1
        tag = spilled.segment.rpartition("-")[0]
        previous = self._current.get(tag)
        if previous != spilled.segment:
            self._current[tag] = spilled.segment
            if previous is not None:
                self._retired.add(previous)
                self._drop_if_done(previous)

    def copy_to(self, fd: int, spilled: Spilled) -> None:
        """Copy the line into the open file ``fd`` (at its current position) and release it.
        An ``OSError`` of the destination is raised as it is, for the caller to report."""
        source = self._open(spilled.segment)
        offset, left = spilled.offset, spilled.length
        try:
            while left:
                try:
                    sent = os.sendfile(fd, source, offset, left)
                except OSError as exc:
                    if exc.errno not in _UNSUPPORTED or offset != spilled.offset:
                        raise
                    _write_all(fd, self._read(source, offset, left))
                    return
                if sent == 0:
                    raise OSError(errno.EIO, f"handoff segment {spilled.segment} ended early")
                offset, left = offset + sent, left - sent
        finally:
            self.release(spilled)

    def take(self, spilled: Spilled) -> bytes:
        """The line's bytes, and release it."""
        try:
            return self._read(self._open(spilled.segment), spilled.offset, spilled.length)
        finally:
            self.release(spilled)

    def release(self, spilled: Spilled) -> None:
        """The line will not be written (a skipped duplicate, say): its segment may go."""
        self._pending[spilled.segment] -= 1
        self._drop_if_done(spilled.segment)

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> HandoffFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self, segment: str) -> int:
        fd = self._fds.get(segment)
        if fd is None:
            fd = self._fds[segment] = os.open(self.path / segment, os.O_RDONLY)
        return fd

    @staticmethod
    def _read(fd: int, offset: int, length: int) -> bytes:
        data = os.pread(fd, length, offset)
        while len(data) < length:
            more = os.pread(fd, length - len(data), offset + len(data))
            if not more:
                raise OSError(errno.EIO, "handoff segment ended early")
            data += more
        return data

    def _drop_if_done(self, segment: str) -> None:
        if segment not in self._retired or self._pending[segment] > 0:
            return
        self._retired.discard(segment)
        del self._pending[segment]
        fd = self._fds.pop(segment, None)
        if fd is not None:
            os.close(fd)
        try:
            os.unlink(self.path / segment)
        except OSError:
            pass  # removed with the folder at the end


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
