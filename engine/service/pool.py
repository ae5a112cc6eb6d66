# SPDX-License-Identifier: Apache-2.0
"""CDS hook calls answered in worker processes (``leukodx serve --processes N``).

The engine is CPU-bound Python: threads of one process share one core (the GIL), so one process
answers at most about one call per core-time of a call, however many cores the machine has.
With ``--processes N`` the server process keeps the HTTP side (connections, JWT checks, request
validation, logs, the report links) and hands each hook call to one of N worker processes, each
with its own knowledge base and compiled engine. Calls wait in one queue and go to the first
idle worker, whichever connection they came on (uvicorn's own ``--workers`` would pin each
keep-alive connection to one process, and split the service's state between processes). The
event loop talks to each worker over its own pipe: no extra threads in the server process.

Nothing stateful moves to the workers, so nothing needs a shared store:

* **report links**: a worker mints the token (:func:`engine.service.links.new_token`) and sends
  back the :class:`engine.service.hooks.ReportRecipe`; the server process stores it under that
  token before the answer leaves, and renders the report when the link is first opened;
* **JWT replay cache, body limits, timeouts**: checked in the server process before a call is
  handed over;
* **logs**: a worker's log records travel over a queue to the server process and pass the same
  handler and repeat filter (:mod:`engine.service.logs`) as the server's own lines;
* **the day**: the server process decides the day of each call (``settings.today``) and sends it.

A worker answers with the response already serialized (JSON bytes, as FastAPI would write the
``CdsResponse``), so the server process only copies bytes; an input error or a missing prefetch
comes back as a :class:`Refusal` and is answered exactly as in one process (422, 412). A worker
that dies (a crash, the OOM killer) fails the call it held (:class:`PoolUnavailable`, 503) and
is replaced. A worker reads calls until its pipe closes: only the server process holds the other
end, so a server killed outright leaves no worker behind. ``/diagnose``, ``POST /report`` and
the rendering of a report link stay on the server process's diagnosis threads (``--workers``).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import logging
import logging.handlers
import multiprocessing
import os
import pickle
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from pydantic import TypeAdapter

from engine.api import WARMUP_FACTS, diagnose
from engine.errors import InputError, LeukodxError
from engine.heap import freeze_long_lived
from engine.kb.load import load_knowledge_base
from engine.service.hooks import Hooks, PrefetchMissing, ReportRecipe, ServiceSettings
from engine.service.links import StoredLink, new_token, stored_link
from engine.service.models import CdsRequest, CdsResponse

log = logging.getLogger("leukodx.service")
_RESPONSE = TypeAdapter(CdsResponse)


@dataclass(frozen=True)
class HookAnswer:
    """A worker's answer to one hook call: the response body and the reports its cards link to."""

    body: bytes  # the CdsResponse as JSON, exactly as the route would serialize it
    indicators: tuple[str, ...]  # of the cards, for the server's log line
    reports: tuple[tuple[str, ReportRecipe], ...]  # (token, recipe) for the server's link store
    pid: int  # the worker that answered (named in the server's log line)


@dataclass(frozen=True)
class Refusal:
    """An :class:`InputError` or :class:`PrefetchMissing` raised in a worker, as plain data
    (neither exception survives pickling: their constructors take other arguments than
    ``args``)."""

    kind: str  # "input" or "prefetch"
    fields: dict[str, Any]

    @classmethod
    def of(cls, exc: LeukodxError) -> Refusal:
        if isinstance(exc, PrefetchMissing):
            return cls("prefetch", {"missing": list(exc.missing), "reason": str(exc)})
        assert isinstance(exc, InputError)
        names = ("field", "problem", "got", "expected", "suggestion", "source")
        return cls("input", {name: getattr(exc, name) for name in names})

    def error(self) -> LeukodxError:
        """The exception the worker raised, rebuilt (the same message and fields)."""
        if self.kind == "prefetch":
            return PrefetchMissing(self.fields["missing"], self.fields["reason"])
        f = self.fields
        return InputError(f["field"], f["problem"], got=f["got"], expected=f["expected"],
                          suggestion=f["suggestion"], source=f["source"])  # fmt: skip


class PoolUnavailable(LeukodxError):
    """No worker answered this call: the one holding it died (it is being replaced), or none
    could be started (HTTP 503)."""


class WorkerCrashed(Exception):
    """A call raised an unexpected exception in a worker: a bug (HTTP 500, logged by type)."""


# --- in the worker processes ----------------------------------------------------------------


class _WorkerHooks(Hooks):
    """The hooks of a worker: report recipes are collected for the server process, not kept."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.minted: list[tuple[str, ReportRecipe]] = []

    def store_report(self, recipe: ReportRecipe, base_url: str) -> StoredLink:
        token = new_token()
        self.minted.append((token, recipe))
        return stored_link(token, base_url, self.settings.report_ttl)


class _Worker:
    """The state of one worker process (set up once by :func:`_start`)."""

    hooks: _WorkerHooks | None = None
    day: dt.date = dt.date.min


def _day() -> dt.date:
    """``settings.today`` in a worker: the day the server process sent with the call."""
    return _Worker.day


def _start(settings: ServiceSettings, records: Any, level: int) -> None:
    """Set up a worker process: logging to the server's queue, the knowledge base, and the
    compiled engine."""
    for stop in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C or a service manager's stop reaches
        signal.signal(stop, signal.SIG_IGN)  # the whole group: the server stops its workers
    root = logging.getLogger("leukodx")
    root.handlers[:] = [logging.handlers.QueueHandler(records)]
    root.setLevel(level)
    root.propagate = False
    kb = load_knowledge_base(settings.rules)
    _Worker.hooks = _WorkerHooks(kb, settings)
    diagnose(WARMUP_FACTS, kb=kb, backend=settings.backend)
    freeze_long_lived()  # the knowledge base lives as long as this worker process


def _answer(service_id: str, request: CdsRequest, base_url: str | None,
            day: dt.date) -> HookAnswer | Refusal:  # fmt: skip
    """One hook call in a worker (see :meth:`engine.service.hooks.Hooks.call`)."""
    hooks = _Worker.hooks
    assert hooks is not None, "the worker was not started"
    _Worker.day = day
    hooks.minted.clear()
    try:
        response = hooks.call(service_id, request, base_url)
    except (InputError, PrefetchMissing) as exc:
        return Refusal.of(exc)
    body = _RESPONSE.dump_json(response, by_alias=True, exclude_none=True)
    indicators = tuple(card.indicator for card in response.cards)
    return HookAnswer(body, indicators, tuple(hooks.minted), os.getpid())


def _serve(conn: Connection, settings: ServiceSettings, records: Any, level: int) -> None:
    """A worker process: set up, say it is ready, then answer calls until told to stop (None)
    or until its pipe closes. Only the server process holds the other end, so a server killed
    outright (which cannot stop its workers) closes it too, and the worker returns."""
    try:
        _start(settings, records, level)
        reply: tuple[str, object] = ("ready", os.getpid())
    except Exception as exc:  # noqa: BLE001 - reported to the server, which refuses to start
        reply = ("failed", f"{type(exc).__name__}: {exc}")
    try:
        conn.send_bytes(pickle.dumps(reply))
        while reply[0] != "failed":
            task = pickle.loads(conn.recv_bytes())
            if task is None:
                return
            try:
                reply = ("answer", _answer(*task))
            except Exception as exc:  # noqa: BLE001 - a bug: the server answers 500, logs its type
                reply = ("crashed", type(exc).__name__)
            conn.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))
    except (EOFError, OSError):  # the server process is gone
        return


# --- in the server process ------------------------------------------------------------------


class _Forward(logging.Handler):
    """Hands a worker's log record to the server's logger of the same name (its handlers and
    the repeat filter), as if the server had logged it."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(record.name).handle(record)


#: A call waiting for a worker: the pickled task and the future of its answer.
_Waiting = tuple[bytes, "asyncio.Future[HookAnswer | Refusal]"]


@dataclass
class _Slot:
    """One worker process, its end of the pipe, and the call it is answering (if any)."""

    process: BaseProcess
    conn: Connection
    ready: asyncio.Future[int]  # the worker's pid once it has started
    call: asyncio.Future[HookAnswer | Refusal] | None = None


class ProcessRunner:
    """Hook calls on ``processes`` worker processes, from the event loop.

    Calls wait in one queue and go to the first idle worker; each worker gets one call at a time
    over its own pipe, watched by the event loop (no extra threads). A worker that dies fails
    the call it held (:class:`PoolUnavailable`) and is replaced.
    """

    def __init__(self, settings: ServiceSettings, processes: int) -> None:
        if processes < 1:
            raise ValueError("a process pool needs at least one process")
        self.processes = processes
        # what the workers need: no authentication, no browser origins; the day comes per call
        self._settings = dataclasses.replace(settings, auth=None, cors_origins=(), today=_day)
        self._context = multiprocessing.get_context("spawn")
        self._records: Any = None
        self._listener: logging.handlers.QueueListener | None = None
        self._slots: list[_Slot] = []
        self._waiting: collections.deque[_Waiting] = collections.deque()
        self._closing = False

    async def start(self, timeout: float = 300.0) -> None:
        """Start the workers and wait until each has compiled its engine."""
        self._records = self._context.Queue()
        self._listener = logging.handlers.QueueListener(self._records, _Forward())
        self._listener.start()
        slots = [self._spawn() for _ in range(self.processes)]
        await asyncio.wait_for(asyncio.gather(*(slot.ready for slot in slots)), timeout)

    def pids(self) -> set[int]:
        """The ids of the worker processes that are ready."""
        return {s.ready.result() for s in self._slots if s.ready.done() and not s.ready.exception()}

    def _spawn(self) -> _Slot:
        loop = asyncio.get_running_loop()
        ours, theirs = self._context.Pipe(duplex=True)
        level = logging.getLogger("leukodx").getEffectiveLevel()
        process = self._context.Process(
            target=_serve, name="leukodx-diagnosis", daemon=True,
            args=(theirs, self._settings, self._records, level),
        )  # fmt: skip
        process.start()
        theirs.close()
        slot = _Slot(process, ours, loop.create_future())
        self._slots.append(slot)
        loop.add_reader(ours.fileno(), self._readable, slot)
        return slot

    async def call(self, service_id: str, request: CdsRequest, base_url: str | None,
                   day: dt.date) -> HookAnswer | Refusal:  # fmt: skip
        """The answer of a worker to one hook call (in the order the calls came)."""
        task = (service_id, request, base_url, day)
        future: asyncio.Future[HookAnswer | Refusal] = asyncio.get_running_loop().create_future()
        self._waiting.append((pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL), future))
        self._dispatch()
        return await future

    def _dispatch(self) -> None:
        if not self._slots:  # every worker died and none could be started again
            while self._waiting:
                self._waiting.popleft()[1].set_exception(
                    PoolUnavailable("no diagnosis process is running")
                )
            return
        for slot in list(self._slots):
            if not self._waiting:
                return
            if slot.call is not None or not slot.ready.done() or slot.ready.exception():
                continue
            data, future = self._waiting.popleft()
            while future.done() and self._waiting:  # its caller has gone
                data, future = self._waiting.popleft()
            if future.done():
                return
            slot.call = future
            try:
                slot.conn.send_bytes(data)
            except OSError:
                self._lost(slot)

    def _readable(self, slot: _Slot) -> None:
        try:
            kind, value = pickle.loads(slot.conn.recv_bytes())
        except (EOFError, OSError):
            self._lost(slot)
            return
        if kind == "ready":
            slot.ready.set_result(value)
        elif kind == "failed":
            slot.ready.set_exception(LeukodxError(f"a diagnosis process did not start: {value}"))
            self._forget(slot)
            return
        else:
            call, slot.call = slot.call, None
            if call is not None and not call.done():
                if kind == "answer":
                    call.set_result(value)
                else:
                    log.error("internal error %s in a diagnosis process", value)
                    call.set_exception(WorkerCrashed(value))
        self._dispatch()

    def _lost(self, slot: _Slot) -> None:
        """A worker died (or its pipe broke): fail its call and start another in its place."""
        self._forget(slot)
        if self._closing:
            return
        if not slot.ready.done():
            slot.ready.set_exception(LeukodxError("a diagnosis process stopped while starting"))
            return
        log.error("a diagnosis process stopped (exit code %s); starting another",
                  slot.process.exitcode)  # fmt: skip
        if slot.call is not None and not slot.call.done():
            slot.call.set_exception(PoolUnavailable(
                "a diagnosis process stopped while answering; the call was not answered, "
                "send it again"
            ))  # fmt: skip
        self._spawn().ready.add_done_callback(self._replaced)

    def _replaced(self, ready: asyncio.Future[int]) -> None:
        if ready.exception() is not None:
            log.error("%s", ready.exception())
        self._dispatch()

    def _forget(self, slot: _Slot) -> None:
        """Stop watching ``slot``; its process has exited or is of no use without its pipe."""
        asyncio.get_running_loop().remove_reader(slot.conn.fileno())
        slot.conn.close()
        if slot.process.is_alive():
            slot.process.kill()
        slot.process.join(timeout=1)
        if slot in self._slots:
            self._slots.remove(slot)

    async def close(self, timeout: float = 10.0) -> None:
        """Stop the workers (each finishes the call it holds) and the log listener."""
        self._closing = True
        for slot in list(self._slots):
            asyncio.get_running_loop().remove_reader(slot.conn.fileno())
            try:
                slot.conn.send_bytes(pickle.dumps(None))
            except OSError:
                pass
        for slot in list(self._slots):
            await asyncio.to_thread(slot.process.join, timeout)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join()
            slot.conn.close()
        self._slots.clear()
        for _, future in self._waiting:
            future.cancel()
        self._waiting.clear()
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
            self._records.close()
            self._records.join_thread()
            self._records = None
