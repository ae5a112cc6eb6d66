# SPDX-License-Identifier: Apache-2.0
"""Expiring links from a CDS card to the patient's HTML report (``GET /reports/{token}``).

A card's ``links`` entry must open in the clinician's browser, which holds no CDS client JWT, so
the link itself is the credential: an unguessable random token (256 bits from :mod:`secrets`)
that says nothing about the patient. The report is kept only in this process's memory for
``ttl`` seconds, either as compressed HTML or as the recipe that renders it when the link is
opened (the hook then does not pay for a report nobody may open: rendering and compressing it
was about 40% of a patient-view call); beyond ``max_entries`` the oldest report is dropped
first. Nothing is written to disk, and a restart forgets every report. An expired or unknown
token is simply absent.

With ``leukodx serve --processes N`` the hooks are answered in worker processes
(:mod:`engine.service.pool`), but the store stays in the server process: a worker mints the token
(:func:`new_token`) and sends back what renders the report, and the server adopts it under that
token (``put(..., token=...)``) before the answer leaves, so every link resolves wherever the
hook was computed.
"""

from __future__ import annotations

import secrets
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

#: Defaults of ``leukodx serve`` (``--report-ttl``) and of :class:`ReportStore`.
DEFAULT_TTL_SECONDS = 3600.0
DEFAULT_MAX_ENTRIES = 1000
ROUTE = "/reports"


@dataclass(frozen=True)
class StoredLink:
    """A stored report's address and when it stops working (seconds since the epoch)."""

    url: str
    expires_at: float


class ReportStore:
    """A bounded, expiring, in-memory map from random tokens to HTML reports (thread-safe)."""

    def __init__(
        self,
        ttl: float = DEFAULT_TTL_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not ttl > 0 or max_entries < 1:
            raise ValueError("a report store needs a positive ttl and at least one entry")
        self.ttl, self.max_entries, self._clock = ttl, max_entries, clock
        self._items: OrderedDict[str, tuple[float, bytes | Callable[[], str]]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, html: str | Callable[[], str], token: str | None = None) -> str:
        """Keep ``html`` (or the function that renders it on first opening) for ``ttl`` seconds;
        returns its token: ``token`` when given (minted by :func:`new_token` in a worker
        process), else a new one."""
        token = token or new_token()
        packed = html if callable(html) else zlib.compress(html.encode("utf-8"))
        with self._lock:
            self._expire()
            self._items[token] = (self._clock() + self.ttl, packed)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
        return token

    def get(self, token: str) -> str | None:
        """The report of ``token``, or None when it is unknown or has expired."""
        with self._lock:
            self._expire()
            item = self._items.get(token)
        if item is None:
            return None
        deadline, kept = item
        if not callable(kept):
            return zlib.decompress(kept).decode("utf-8")
        html = kept()  # rendered once, outside the lock; later openings read the stored page
        with self._lock:
            if token in self._items:
                self._items[token] = (deadline, zlib.compress(html.encode("utf-8")))
        return html

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._items)

    def _expire(self) -> None:
        """Drop expired reports (the oldest come first, as every entry has the same ttl)."""
        now = self._clock()
        while self._items:
            token, (deadline, _) = next(iter(self._items.items()))
            if deadline > now:
                break
            del self._items[token]

    def link(self, html: str | Callable[[], str], base_url: str) -> StoredLink:
        """Store ``html`` and return its absolute URL under ``base_url`` with its expiry time."""
        return stored_link(self.put(html), base_url, self.ttl)


def new_token() -> str:
    """A fresh report token: 256 random bits, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def stored_link(token: str, base_url: str, ttl: float) -> StoredLink:
    """The absolute URL of ``token`` under ``base_url``, expiring ``ttl`` seconds from now."""
    return StoredLink(f"{base_url.rstrip('/')}{ROUTE}/{token}", time.time() + ttl)
