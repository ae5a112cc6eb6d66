# SPDX-License-Identifier: Apache-2.0
"""A local process pool for batches that survives crashing and hanging cases.

``concurrent.futures`` and ``multiprocessing.Pool`` lose or hang on a task whose worker dies,
and cannot stop a task that never returns. This pool keeps one pipe per worker process, sends
work in chunks (only to an idle worker, so neither side can block the other), and gets one
answer per case. It therefore always knows which case a worker is on and since when:

* a worker that dies costs the case it was on, recorded as an error; the rest of its chunk goes
  to a fresh worker;
* a case that runs past ``timeout`` seconds gets its worker killed, with the same recovery.

Workers start from a fork server that has the engine imported, and each compiles the knowledge
base once (:class:`~engine.batch.worker.Evaluator`).
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections import deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from engine.batch.worker import EvaluatorFactory, Outcome, Task, serve
from engine.errors import LeukodxError

_START_TIMEOUT = 600.0  # seconds a new worker may take to load and compile the knowledge base


def _context() -> Any:
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["engine.batch.worker"])
        return ctx
    return mp.get_context("spawn")  # pragma: no cover - platforms without fork


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    ready: bool = False
    queue: deque[Task] = field(default_factory=deque)
    since: float = field(default_factory=time.monotonic)


class LocalPool:
    """``workers`` processes; :meth:`run` yields an :class:`Outcome` for every task, in the
    order cases finish."""

    def __init__(
        self, factory: EvaluatorFactory, *, workers: int, timeout: float | None, chunk_size: int
    ) -> None:
        self.factory = factory
        self.size = max(1, workers)
        self.timeout = timeout if timeout and timeout > 0 else None
        self.chunk_size = max(1, chunk_size)
        self._ctx = _context()
        self._workers: list[_Worker] = []
        self._retry: deque[Task] = deque()

    def run(self, tasks: Iterator[Task]) -> Generator[Outcome, None, None]:
        """Evaluate every task; the pool is shut down when this generator ends or is closed."""
        try:
            self._workers = [self._start() for _ in range(self.size)]
            pending: Iterator[Task] | None = tasks
            while True:
                pending = self._dispatch(pending)
                if pending is None and not self._retry and not any(w.queue for w in self._workers):
                    return
                yield from self._collect()
        finally:
            self._shutdown()

    def _start(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=serve, args=(child, self.factory), daemon=True, name="leukodx-batch-worker"
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    def _next_chunk(self, tasks: Iterator[Task] | None) -> tuple[list[Task], bool]:
        chunk: list[Task] = []
        while self._retry and len(chunk) < self.chunk_size:
            chunk.append(self._retry.popleft())
        exhausted = tasks is None
        while tasks is not None and len(chunk) < self.chunk_size:
            task = next(tasks, None)
            if task is None:
                exhausted = True
                break
            chunk.append(task)
        return chunk, exhausted

    def _dispatch(self, tasks: Iterator[Task] | None) -> Iterator[Task] | None:
        """Send a chunk to every idle, ready worker; None once the task iterator is used up."""
        for worker in self._workers:
            if not worker.ready or worker.queue:
                continue
            chunk, exhausted = self._next_chunk(tasks)
            if exhausted:
                tasks = None
            if not chunk:
                break
            worker.queue.extend(chunk)
            worker.since = time.monotonic()
            worker.conn.send(chunk)
        return tasks

    def _collect(self) -> Iterator[Outcome]:
        """Wait for answers, deaths or deadlines, and yield the outcomes they settle."""
        watch: dict[Connection | int, _Worker] = {w.conn: w for w in self._workers}
        watch.update({w.process.sentinel: w for w in self._workers})
        for ready in wait(list(watch), timeout=self._wait_time()):
            worker = watch.get(ready)  # type: ignore[arg-type]
            if worker is not None and worker in self._workers:
                yield from self._receive(worker)
        now = time.monotonic()
        for worker in list(self._workers):
            limit = self.timeout if worker.ready else _START_TIMEOUT
            if (worker.queue or not worker.ready) and limit and now - worker.since > limit:
                yield from self._replace(worker, timed_out=True)

    def _wait_time(self) -> float:
        busy = [w.since + (self.timeout or 0.0) for w in self._workers if w.queue and self.timeout]
        return max(0.0, min(busy) - time.monotonic()) + 0.01 if busy else 1.0

    def _receive(self, worker: _Worker) -> Iterator[Outcome]:
        try:
            while worker.conn.poll():
                message = worker.conn.recv()
                if isinstance(message, Outcome):
                    worker.queue.popleft()
                    worker.since = time.monotonic()
                    yield message
                elif message[0] == "ready":
                    worker.ready, worker.since = True, time.monotonic()
                else:
                    raise LeukodxError(f"batch worker could not start: {message[1]}")
        except (EOFError, OSError):
            pass
        if not worker.process.is_alive():
            yield from self._replace(worker, timed_out=False)

    def _replace(self, worker: _Worker, *, timed_out: bool) -> Iterator[Outcome]:
        """End a dead or stuck worker, record its current case as failed, start a new worker."""
        worker.process.kill()
        worker.process.join()
        worker.conn.close()
        self._workers.remove(worker)
        if not worker.ready:
            raise LeukodxError(
                "batch worker could not start (exit code "
                f"{worker.process.exitcode}); is the knowledge base valid?"
            )
        self._workers.append(self._start())
        if not worker.queue:
            return
        seq, _ = worker.queue.popleft()
        self._retry.extendleft(reversed(worker.queue))
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
            if worker.queue or not worker.ready:  # interrupted mid-chunk: stop it now
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
