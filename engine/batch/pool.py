# SPDX-License-Identifier: Apache-2.0
"""A local process pool for batches that survives crashing and hanging cases.

``concurrent.futures`` and ``multiprocessing.Pool`` lose or hang on a task whose worker dies,
and cannot stop a task that never returns. This pool keeps one pipe per worker process, sends
work in chunks (at most :data:`AHEAD` chunks to a worker at a time: the next one is there when
the worker finishes the current one, and a worker drains its pipe on a thread of its own, so
neither side can block the other), and gets the heads of the cases a chunk reads
(:class:`~engine.batch.worker.Heads`) and then one answer per case. It therefore always knows
which case a worker is on and since when:

* a worker that dies costs the case it was on, recorded as an error; the rest of its chunks go
  to a fresh worker;
* a case that runs past ``timeout`` seconds gets its worker killed, with the same recovery;
* a worker that dies or runs out of time while reading a chunk's case files (before their
  heads came) is on a case that is not known: each case of that chunk is tried again alone, so
  that only the one at fault is lost.

Workers start from a fork server that has the engine imported (:mod:`engine.batch.forkserver`,
which the console script may have started already), and each compiles the knowledge base once
(:class:`~engine.batch.worker.Evaluator`).
"""

from __future__ import annotations

import selectors
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING

from engine.batch.cases import CaseRef
from engine.batch.forkserver import context
from engine.batch.messages import Heads, Outcome, Task
from engine.errors import LeukodxError

if TYPE_CHECKING:
    from engine.batch.worker import EvaluatorFactory

_START_TIMEOUT = 600.0  # seconds a new worker may take to load and compile the knowledge base


def _serve(conn: Connection, factory: EvaluatorFactory, handoff: str | None) -> None:
    """A worker process's life (:func:`engine.batch.worker.serve`), named here so that the main
    process does not import the engine to start one (the fork server has it loaded)."""
    from engine.batch.worker import serve

    serve(conn, factory, handoff)


#: Chunks a worker holds at most: the one it is on and the next.
AHEAD = 2


@dataclass(eq=False)
class _Chunk:
    tasks: deque[Task]
    read: bool  # its heads came (or it has no CaseRef to read)


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    ready: bool = False
    chunks: deque[_Chunk] = field(default_factory=deque)
    since: float = field(default_factory=time.monotonic)

    def done_with(self, seq: int) -> None:
        """The case ``seq`` of the current chunk is settled."""
        chunk = self.chunks[0]
        if chunk.tasks and chunk.tasks[0][0] == seq:
            chunk.tasks.popleft()
        else:  # pragma: no cover - answers come in order; kept safe all the same
            chunk.tasks = deque(t for t in chunk.tasks if t[0] != seq)
        if not chunk.tasks:
            self.chunks.popleft()


class LocalPool:
    """``workers`` processes; :meth:`run` yields an :class:`Outcome` for every task (and the
    :class:`Heads` of the cases it read), in the order cases finish.

    ``hold``, when given and true, stops new tasks being taken from the iterator (cases already
    taken, and those to try again, still go): the consumer's way to bound what it buffers.
    ``handoff``, a folder, has workers leave result lines there (:mod:`engine.batch.handoff`):
    the consumer must then give back every :class:`~engine.batch.messages.Spilled` it gets."""

    def __init__(
        self, factory: EvaluatorFactory, *, workers: int, timeout: float | None, chunk_size: int,
        hold: Callable[[], bool] | None = None, handoff: str | None = None,
    ) -> None:  # fmt: skip
        self.factory = factory
        self.handoff = handoff
        self.size = max(1, workers)
        self.timeout = timeout if timeout and timeout > 0 else None
        self.chunk_size = max(1, chunk_size)
        self.hold = hold
        self._ctx = context()
        self._workers: list[_Worker] = []
        self._selector = selectors.DefaultSelector()
        self._retry: deque[tuple[Task, bool]] = deque()  # (task, alone)

    def run(self, tasks: Iterator[Task]) -> Generator[Outcome | Heads, None, None]:
        """Evaluate every task; the pool is shut down when this generator ends or is closed."""
        try:
            self._selector = selectors.DefaultSelector()
            self._workers = [self._start() for _ in range(self.size)]
            pending: Iterator[Task] | None = tasks
            while True:
                pending = self._dispatch(pending)
                if pending is None and not self._retry and not any(w.chunks for w in self._workers):
                    return
                yield from self._collect()
        finally:
            self._shutdown()

    def _start(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_serve,
            args=(child, self.factory, self.handoff),
            daemon=True,
            name="leukodx-batch-worker",
        )
        process.start()
        child.close()
        worker = _Worker(process, parent)
        self._selector.register(parent, selectors.EVENT_READ, (worker, False))
        self._selector.register(process.sentinel, selectors.EVENT_READ, (worker, True))
        return worker

    def _next_chunk(self, tasks: Iterator[Task] | None) -> tuple[list[Task], bool]:
        chunk: list[Task] = []
        while self._retry and len(chunk) < self.chunk_size:
            task, alone = self._retry[0]
            if alone and chunk:
                return chunk, tasks is None
            self._retry.popleft()
            chunk.append(task)
            if alone:
                return chunk, tasks is None
        exhausted = tasks is None
        if self.hold is not None and self.hold():
            return chunk, exhausted
        while tasks is not None and len(chunk) < self.chunk_size:
            new = next(tasks, None)
            if new is None:
                exhausted = True
                break
            chunk.append(new)
        return chunk, exhausted

    def _dispatch(self, tasks: Iterator[Task] | None) -> Iterator[Task] | None:
        """Send a chunk to every ready worker with fewer than :data:`AHEAD` chunks; None once the
        task iterator is used up."""
        for worker in self._workers:
            if not worker.ready or len(worker.chunks) >= AHEAD:
                continue
            chunk, exhausted = self._next_chunk(tasks)
            if exhausted:
                tasks = None
            if not chunk:
                break
            if not worker.chunks:
                worker.since = time.monotonic()
            read = not any(isinstance(payload, CaseRef) for _, payload in chunk)
            try:
                worker.conn.send(chunk)
            except OSError:  # it died since it last answered: its sentinel will say so
                self._retry.extendleft(reversed([(task, False) for task in chunk]))
                continue
            worker.chunks.append(_Chunk(deque(chunk), read))
        return tasks

    def _collect(self) -> Iterator[Outcome | Heads]:
        """Wait for answers, deaths or deadlines, and yield the outcomes they settle (one
        ``select`` on a selector kept for the run: this loop turns once per case)."""
        for key, _ in self._selector.select(self._wait_time()):
            worker, died = key.data
            if worker in self._workers:
                yield from self._receive(worker, died=died)
        now = time.monotonic()
        for worker in list(self._workers):
            limit = self.timeout if worker.ready else _START_TIMEOUT
            if (worker.chunks or not worker.ready) and limit and now - worker.since > limit:
                yield from self._replace(worker, timed_out=True)

    def _wait_time(self) -> float:
        busy = [w.since + (self.timeout or 0.0) for w in self._workers if w.chunks and self.timeout]
        return max(0.0, min(busy) - time.monotonic()) + 0.01 if busy else 1.0

    def _receive(self, worker: _Worker, *, died: bool) -> Iterator[Outcome | Heads]:
        """One message of a worker; every message it left, and its replacement, when it died."""
        try:
            while True:
                message = worker.conn.recv()
                if isinstance(message, Outcome):
                    worker.done_with(message.seq)
                    worker.since = time.monotonic()
                    yield message
                elif isinstance(message, Heads):
                    self._read(worker, message)
                    worker.since = time.monotonic()
                    yield message
                elif message[0] == "ready":
                    worker.ready, worker.since = True, time.monotonic()
                else:
                    raise LeukodxError(f"batch worker could not start: {message[1]}")
                if not died or not worker.conn.poll():
                    break
        except (EOFError, OSError):  # it is ending: its sentinel says when it has
            self._forget(worker.conn)
            died = died or not worker.process.is_alive()
        if died:
            yield from self._replace(worker, timed_out=False)

    def _forget(self, handle: Connection | int) -> None:
        try:
            self._selector.unregister(handle)
        except (KeyError, ValueError):
            pass

    @staticmethod
    def _read(worker: _Worker, heads: Heads) -> None:
        """The current chunk's cases are read: those that could not be are settled."""
        chunk = worker.chunks[0]
        chunk.read = True
        unreadable = {seq for seq, case in heads.cases if case.error is not None}
        if unreadable:
            chunk.tasks = deque(t for t in chunk.tasks if t[0] not in unreadable)
            if not chunk.tasks:
                worker.chunks.popleft()

    def _replace(self, worker: _Worker, *, timed_out: bool) -> Iterator[Outcome]:
        """End a dead or stuck worker, record its current case as failed, start a new worker."""
        worker.process.kill()
        worker.process.join()
        self._forget(worker.conn)
        self._forget(worker.process.sentinel)
        worker.conn.close()
        self._workers.remove(worker)
        if not worker.ready:
            raise LeukodxError(
                "batch worker could not start (exit code "
                f"{worker.process.exitcode}); is the knowledge base valid?"
            )
        self._workers.append(self._start())
        if not worker.chunks:
            return
        current = worker.chunks.popleft()
        later = [(task, False) for chunk in worker.chunks for task in chunk.tasks]
        if not current.read and len(current.tasks) > 1:  # which case it was on is not known
            alone = [(task, True) for task in current.tasks]
            self._retry.extendleft(reversed(alone + later))
            return
        seq, _ = current.tasks.popleft()
        self._retry.extendleft(reversed([(task, False) for task in current.tasks] + later))
        if timed_out:
            message = f"timed out: no result after {self.timeout:g} s (worker stopped)"
            yield Outcome(seq, False, field="(timeout)", message=message)
        else:
            message = (
                f"the worker process died while evaluating this case "
                f"(exit code {worker.process.exitcode})"
            )
            yield Outcome(seq, False, field="(crash)", message=message)

    def _shutdown(self) -> None:
        for worker in self._workers:
            if worker.chunks or not worker.ready:  # interrupted mid-chunk: stop it now
                worker.process.kill()
                continue
            try:
                worker.conn.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + 5.0
        for worker in self._workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._workers = []
        self._selector.close()
