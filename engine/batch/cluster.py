# SPDX-License-Identifier: Apache-2.0
"""Batches on a Dask distributed cluster (the optional extra ``leukodx[distributed]``).

The same chunks and the same worker code as the local pool (:mod:`engine.batch.worker`), so the
results are identical. A bounded number of chunks is in flight at any time (memory stays flat).
A chunk whose worker died is split and its cases retried one by one, so a crashing case costs
only itself; a case past the time limit is recorded as timed out and its worker restarted.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Generator, Iterator
from contextlib import ExitStack
from typing import Any

from engine.batch.messages import Outcome, Task
from engine.batch.worker import ChunkResult, EvaluatorFactory, evaluate_chunk_guarded
from engine.errors import BackendUnavailableError, LeukodxError


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise BackendUnavailableError(
            "--executor dask needs the optional dependency 'distributed': "
            "install it with: pip install 'leukodx[distributed]'"
        ) from exc
    return distributed


class DaskRunner:
    """Runs chunks on ``scheduler`` (an address), or on a LocalCluster of ``workers`` processes."""

    def __init__(
        self,
        factory: EvaluatorFactory,
        *,
        workers: int,
        timeout: float | None,
        chunk_size: int,
        scheduler: str | None,
    ) -> None:
        self.factory = factory
        self.workers = max(1, workers)
        self.timeout = timeout if timeout and timeout > 0 else None
        self.chunk_size = max(1, chunk_size)
        self.scheduler = scheduler
        self._attempts: dict[int, int] = {}  # retries of single cases whose worker died

    def run(self, tasks: Iterator[Task]) -> Generator[Outcome, None, None]:
        dd = _distributed()
        with ExitStack() as stack:
            # A chunk holding a long case is a "large graph" to Dask, which warns on stderr
            # (under --quiet too); nothing a user of leukodx can act on.
            stack.enter_context(warnings.catch_warnings())
            warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
            client = self._client(dd, stack)
            yield from self._drive(dd, client, tasks)

    def _client(self, dd: Any, stack: ExitStack) -> Any:
        """A client of the given scheduler, or of a LocalCluster closed with ``stack``."""
        if self.scheduler:
            return stack.enter_context(dd.Client(self.scheduler, set_as_default=False))
        import dask

        # the workers' scratch folder is the run's, removed with it (Dask left
        # dask-scratch-space in the temporary folder after every run)
        scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="leukodx-dask-"))
        settings = {"distributed.scheduler.allowed-failures": 1, "temporary-directory": scratch}
        with dask.config.set(settings):
            cluster = stack.enter_context(
                dd.LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                    local_directory=scratch,
                )
            )
        return stack.enter_context(dd.Client(cluster, set_as_default=False))

    def _drive(self, dd: Any, client: Any, tasks: Iterator[Task]) -> Iterator[Outcome]:
        window = 2 * max(sum(client.nthreads().values()), 1)
        flying: dict[Any, list[Task]] = {}
        queue: Any = None

        def submit(chunk: list[Task]) -> None:
            future = client.submit(
                evaluate_chunk_guarded, chunk, self.factory, self.timeout, pure=False
            )
            flying[future] = chunk
            if queue is not None:
                queue.add(future)

        def refill() -> None:
            while len(flying) < window:
                chunk = [t for _, t in zip(range(self.chunk_size), tasks, strict=False)]
                if not chunk:
                    return
                submit(chunk)

        refill()
        if not flying:
            return
        queue = dd.as_completed(list(flying), loop=client.loop)
        for future in queue:
            chunk = flying.pop(future)
            yield from self._settle(dd, client, future, chunk, submit)
            refill()

    def _settle(
        self, dd: Any, client: Any, future: Any, chunk: list[Task], submit: Any
    ) -> Iterator[Outcome]:
        if future.status == "finished":
            result: ChunkResult = future.result()
            yield from result.outcomes
            if result.restart:
                client.restart_workers([result.restart], raise_for_error=False)
            return
        error = future.exception() if future.status == "error" else None
        if error is not None and not isinstance(error, dd.KilledWorker):
            raise LeukodxError(f"batch task failed on the Dask cluster: {error!r}") from error
        # Its worker died (or was restarted under it): find the case at fault one by one.
        if len(chunk) > 1:
            for task in chunk:
                submit([task])
            return
        seq = chunk[0][0]
        self._attempts[seq] = self._attempts.get(seq, 0) + 1
        # Lost in a restart (no error): not its own fault, so up to three tries. Killed workers
        # (KilledWorker): the scheduler counts every task queued on a dying worker, so a good
        # case waiting behind a crashing one can be blamed; one more try on its own tells them
        # apart (a case that crashes does so again).
        if self._attempts[seq] < (3 if error is None else 2):
            submit(chunk)
            return
        del self._attempts[seq]
        yield Outcome(
            seq, False, field="(crash)", message="the Dask worker died while evaluating this case"
        )
