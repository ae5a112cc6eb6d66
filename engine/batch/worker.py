# SPDX-License-Identifier: Apache-2.0
"""The worker side of a batch: evaluate cases with a knowledge base compiled once.

:class:`Evaluator` loads and compiles the knowledge base when it is made (once per worker
process) and turns one case into an :class:`Outcome`: the differential as compact JSON, or the
field and message of the error. Every failure of one case is caught here, so one bad case
never stops a worker. :func:`serve` is the loop of a local worker process;
:func:`evaluate_chunk` is the task a Dask worker runs.
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from engine.api import diagnose
from engine.backends.base import get_matcher
from engine.batch.exposure import drug_courses_json
from engine.errors import InputError, LeukodxError
from engine.kb.load import load_knowledge_base

Task = tuple[int, Any]  # (sequence number, patient facts)


@dataclass(frozen=True)
class Outcome:
    """What one case gave: ``body`` is the differential JSON when ``ok``."""

    seq: int
    ok: bool
    body: str = ""
    field: str = ""
    message: str = ""
    drugs: str = ""  # the drug courses as JSON (engine.batch.exposure), "" when none


class CaseEvaluator(Protocol):
    def evaluate(self, seq: int, data: Any) -> Outcome: ...


class Evaluator:
    """Runs :func:`engine.api.diagnose` on each case with one compiled knowledge base."""

    def __init__(self, rules: str | Path | None, backend: str) -> None:
        self.kb = load_knowledge_base(rules)
        self.backend = backend
        get_matcher(self.kb, backend)  # compile now: once per worker, not per case

    def evaluate(self, seq: int, data: Any) -> Outcome:
        try:
            today = dt.date.today()
            differential = diagnose(data, kb=self.kb, backend=self.backend, today=today)
            body = differential.to_json(indent=None)
            drugs = drug_courses_json(data, self.kb, today)
        except InputError as exc:
            return Outcome(seq, False, field=exc.field, message=str(exc))
        except LeukodxError as exc:
            return Outcome(seq, False, field="(engine)", message=str(exc))
        except Exception as exc:  # noqa: BLE001 - one case's failure must not stop the batch
            return Outcome(
                seq, False, field="(engine)", message=f"internal error: {type(exc).__name__}: {exc}"
            )
        return Outcome(seq, True, body=body, drugs=drugs)


EvaluatorFactory = Callable[[], CaseEvaluator]


def serve(conn: Connection, factory: EvaluatorFactory) -> None:
    """A local worker: say ready, then answer every task of every chunk, one message per case.

    Ctrl-C is left to the parent, which decides what to keep; a closed pipe ends the worker.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        evaluator = factory()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(("failed", str(exc) if isinstance(exc, LeukodxError) else repr(exc)))
        return
    conn.send(("ready", ""))
    try:
        while (chunk := conn.recv()) is not None:
            for seq, data in chunk:
                conn.send(evaluator.evaluate(seq, data))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return  # the parent has gone


_EVALUATORS: dict[str, CaseEvaluator] = {}
_EVALUATORS_LOCK = threading.Lock()


def _evaluator(factory: EvaluatorFactory) -> CaseEvaluator:
    """This process's evaluator for ``factory`` (a picklable partial), made on first use."""
    key = repr(factory)
    with _EVALUATORS_LOCK:
        evaluator = _EVALUATORS.get(key)
        if evaluator is None:
            evaluator = _EVALUATORS[key] = factory()
    return evaluator


def evaluate_chunk(chunk: Sequence[Task], factory: EvaluatorFactory) -> list[Outcome]:
    """A Dask task: evaluate a chunk with this process's evaluator."""
    evaluator = _evaluator(factory)
    return [evaluator.evaluate(seq, data) for seq, data in chunk]


class _Guarded:
    """Evaluates cases on one helper thread, so that a case past its time limit can be left
    behind: the thread is abandoned (a Python thread cannot be killed) and the worker reported
    as stuck, for the caller to restart its process."""

    def __init__(self) -> None:
        self.pool: ThreadPoolExecutor | None = None

    def run(self, evaluator: CaseEvaluator, chunk: Sequence[Task], timeout: float) -> ChunkResult:
        outcomes: list[Outcome] = []
        stuck = False
        for seq, data in chunk:
            if self.pool is None:
                self.pool = ThreadPoolExecutor(1, thread_name_prefix="leukodx-case")
            future = self.pool.submit(evaluator.evaluate, seq, data)
            try:
                outcomes.append(future.result(timeout=timeout))
            except FutureTimeout:
                self.pool.shutdown(wait=False)
                self.pool, stuck = None, True
                outcomes.append(
                    Outcome(
                        seq,
                        False,
                        field="(timeout)",
                        message=(f"timed out: no result after {timeout:g} s (worker restarted)"),
                    )
                )
        return ChunkResult(outcomes, _worker_address() if stuck else None)


@dataclass(frozen=True)
class ChunkResult:
    """A Dask task's answer: the outcomes, and the worker to restart when a case got stuck."""

    outcomes: list[Outcome]
    restart: str | None = None


_GUARDS = threading.local()


def evaluate_chunk_guarded(
    chunk: Sequence[Task], factory: EvaluatorFactory, timeout: float | None
) -> ChunkResult:
    """A Dask task with a per-case time limit (``None``: no limit)."""
    if timeout is None:
        return ChunkResult(evaluate_chunk(chunk, factory))
    guard = getattr(_GUARDS, "guard", None)
    if guard is None:
        guard = _GUARDS.guard = _Guarded()
    return guard.run(_evaluator(factory), chunk, timeout)


def _worker_address() -> str | None:
    try:
        from distributed import get_worker
    except ImportError:  # pragma: no cover - only called inside a Dask worker
        return None
    try:
        return str(get_worker().address)
    except ValueError:  # pragma: no cover - not inside a worker
        return None
