# SPDX-License-Identifier: Apache-2.0
"""Fetching what a CDS client did not prefetch, from the client's FHIR server (CDS Hooks 2.0).

The specification makes this the service's job: when a prefetch key is missing, or the client
put an OperationOutcome in it because its own query failed, and the request carries
``fhirServer`` and ``fhirAuthorization``, the service runs the key's prefetch template itself.
:func:`complete_prefetch` does exactly that, for exactly the service's templates, and nothing
else:

* the template's ``{{context.patientId}}`` is the only token filled in; a template with any
  other token is not run;
* the access token's ``scope`` must cover every query before the first one is sent: a SMART
  v1 ``patient/Observation.read`` (or ``user/``, ``system/``, ``*``) or a SMART v2 scope with
  ``r`` for a read and ``s`` for a search (``patient/Observation.rs``); a v2 scope narrowed by
  search parameters (``patient/Observation.rs?category=laboratory``) is not trusted to cover a
  query it did not write. A token issued for another patient than ``context.patientId`` is
  refused;
* ``fhirServer`` must be an ``https`` URL (``http`` only on a loopback address, for testing),
  redirects are not followed, proxies and ``.netrc`` of the environment are not used, and a next
  page is followed only on the same server, so the bearer token is sent nowhere else;
* every response is bounded (connect and read timeouts, a deadline for the whole hook call, a
  body size, a page count and a resource count per query); what a limit cut off is logged
  (key and counts only);
* the token never appears in a log line or an error message, and request lines (which carry
  the patient id) are not logged: the ``httpx`` loggers are held at WARNING.

Anything that goes wrong is a :class:`FetchError`, which the service answers with 412, as the
specification says for "unable to retrieve the necessary FHIR data".
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from engine.errors import InputError, LeukodxError
from engine.kb.yamlio import check_tree

log = logging.getLogger("leukodx.service")
for _name in ("httpx", "httpcore"):  # their INFO lines name the URL, and so the patient id
    logging.getLogger(_name).setLevel(logging.WARNING)

PATIENT_TOKEN = "{{context.patientId}}"
_FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True)
class FetchLimits:
    """Bounds of one hook call's fetching (defaults suit one patient's counts and orders)."""

    connect_seconds: float = 5.0
    read_seconds: float = 10.0
    total_seconds: float = 30.0  # every query of one hook call together
    max_bytes: int = 5_000_000  # one response body
    max_pages: int = 10  # pages followed per query
    max_resources: int = 2000  # resources kept per query


class FetchError(LeukodxError):
    """The FHIR server could not give what a prefetch template asks for (HTTP 412)."""


@dataclass(frozen=True)
class Access:
    """Where to fetch and with what: ``fhirServer`` and ``fhirAuthorization`` of a hook call."""

    server: str
    token: str = field(repr=False)  # never printed, logged or put in a message
    scope: str
    patient: str | None = None


def is_outcome(value: object) -> bool:
    """Whether a prefetch value is an OperationOutcome: the client's query failed."""
    return isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"


def complete_prefetch(
    given: Mapping[str, Any],
    templates: Mapping[str, str],
    access: Access | None,
    patient_id: str,
    *,
    optional: Iterable[str] = (),
    limits: FetchLimits | None = None,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """``given`` with every template key that is missing or an OperationOutcome fetched from the
    FHIR server. Without ``access`` (no ``fhirServer`` or ``fhirAuthorization``) nothing is
    fetched and ``given`` comes back as it was; the caller decides what is still missing. A key
    given as null stays null: the specification's "no data" answer, not a failure. A key in
    ``optional`` that cannot be fetched (the scope does not cover it, the server fails) is left
    as it was and logged; any other failure is a :class:`FetchError`."""
    out = dict(given)
    wanted = [key for key in templates if key not in out or is_outcome(out[key])]
    if access is None or not wanted:
        return out
    limits = limits or FetchLimits()
    fetched = fetch(templates, wanted, access, patient_id, limits, transport, optional=optional)
    out.update(fetched)
    return out


def fetch(
    templates: Mapping[str, str],
    keys: Iterable[str],
    access: Access,
    patient_id: str,
    limits: FetchLimits,
    transport: httpx.BaseTransport | None = None,
    *,
    optional: Iterable[str] = (),
) -> dict[str, Any]:
    """Run the templates of ``keys`` against ``access.server``; see the module docstring. Every
    query's scope is checked before the first request is sent."""
    base = _base(access.server)
    if access.patient is not None and access.patient != patient_id:
        raise FetchError("fhirAuthorization.patient is not the patient of context.patientId")
    skippable = set(optional)
    queries: dict[str, str] = {}
    for key in keys:
        try:
            queries[key] = _render(key, templates[key], patient_id)
            _check_scope(key, queries[key], access.scope)
        except FetchError as exc:
            queries.pop(key, None)
            _skip_or_raise(key, exc, skippable)
    timeout = httpx.Timeout(limits.read_seconds, connect=limits.connect_seconds)
    headers = {"Authorization": f"Bearer {access.token}", "Accept": _FHIR_JSON}
    deadline = time.monotonic() + limits.total_seconds
    out: dict[str, Any] = {}
    with httpx.Client(
        base_url=str(base), headers=headers, timeout=timeout, transport=transport,
        follow_redirects=False, trust_env=False,
    ) as client:  # fmt: skip
        run = _Run(client, base, limits, deadline)
        for key, query in queries.items():
            try:
                out[key] = run.query(key, query)
            except FetchError as exc:
                _skip_or_raise(key, exc, skippable)
    return out


def _check_scope(key: str, query: str, scope: str) -> None:
    kind, search = _resource_of(query)
    if not scope_covers(scope, kind, search=search):
        need = f"{kind}.{'rs' if search else 'r'} (or {kind}.read)"
        raise FetchError(
            f"prefetch {key}: the access token's scope does not cover reading {kind} "
            f"(needs patient/, user/ or system/{need})"
        )


def _skip_or_raise(key: str, exc: FetchError, optional: set[str]) -> None:
    if key not in optional:
        raise exc
    log.warning("fetch %s: not fetched (optional): %s", key, exc)


def scope_covers(scope: str, resource: str, *, search: bool) -> bool:
    """Whether a SMART scope string allows reading (``search``: searching) ``resource``."""
    for item in scope.split():
        context, _, rest = item.partition("/")
        kind, _, permissions = rest.partition(".")
        if context not in ("patient", "user", "system") or kind not in (resource, "*"):
            continue
        if permissions in ("read", "*"):
            return True
        if "?" in permissions or not permissions or not set(permissions) <= set("cruds"):
            continue  # narrowed by search parameters, or not a SMART v2 permission string
        if ("s" if search else "r") in permissions:
            return True
    return False


# --- one hook call's queries ----------------------------------------------------------------


@dataclass
class _Run:
    client: httpx.Client
    base: httpx.URL
    limits: FetchLimits
    deadline: float

    def query(self, key: str, query: str) -> dict[str, Any]:
        kind, search = _resource_of(query)
        if not search:
            resource = self.get(key, query)
            if resource.get("resourceType") != kind:
                got = resource.get("resourceType")
                raise FetchError(f"prefetch {key}: the FHIR server answered {got}, not {kind}")
            return resource
        return self.search(key, query)

    def search(self, key: str, query: str) -> dict[str, Any]:
        entries: list[Any] = []
        url: str | None = query
        pages = 0
        unread: str | None = None
        while url is not None:
            page = self.get(key, url)
            if page.get("resourceType") != "Bundle":
                got = page.get("resourceType")
                raise FetchError(f"prefetch {key}: the FHIR server answered {got}, not a Bundle")
            entries += _entries(page)[: self.limits.max_resources - len(entries)]
            pages += 1
            url = self.next_page(key, page)
            if url is not None and (
                pages >= self.limits.max_pages or len(entries) >= self.limits.max_resources
            ):
                log.warning(
                    "fetch %s: stopped after %d page(s) and %d resource(s) (the limits); "
                    "later pages not read", key, pages, len(entries),
                )  # fmt: skip
                unread, url = url, None
        out: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
        if unread is not None:  # the answer says it is partial, as a server's page does
            out["link"] = [{"relation": "next", "url": unread}]
        return out

    def next_page(self, key: str, page: dict[str, Any]) -> str | None:
        links = page.get("link")
        for link in links if isinstance(links, list) else []:
            if isinstance(link, dict) and link.get("relation") == "next":
                url = link.get("url")
                if not isinstance(url, str):
                    return None
                if not _on_server(url, self.base):
                    log.warning("fetch %s: next page is not a URL on fhirServer; not followed", key)
                    return None
                return url
        return None

    def get(self, key: str, url: str) -> dict[str, Any]:
        if time.monotonic() > self.deadline:
            raise FetchError(f"prefetch {key}: fetching took longer than "
                             f"{self.limits.total_seconds:g} s")  # fmt: skip
        try:
            with self.client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise FetchError(
                        f"prefetch {key}: the FHIR server answered HTTP {response.status_code}"
                    )
                body = self.read(key, response.iter_bytes())
        except httpx.HTTPError as exc:  # the message names the URL, never the headers
            raise FetchError(f"prefetch {key}: {type(exc).__name__} from the FHIR server") from None
        try:
            data = json.loads(body)
            check_tree(data)
        except (ValueError, RecursionError, InputError) as exc:
            why = exc.args[0] if isinstance(exc, InputError) else "not valid JSON"
            raise FetchError(f"prefetch {key}: the FHIR server's answer is {why}") from None
        if not isinstance(data, dict):
            raise FetchError(f"prefetch {key}: the FHIR server's answer is not a FHIR resource")
        return data

    def read(self, key: str, chunks: Iterator[bytes]) -> bytes:
        body = bytearray()
        for chunk in chunks:
            body += chunk
            if len(body) > self.limits.max_bytes:
                raise FetchError(f"prefetch {key}: the FHIR server's answer is larger than "
                                 f"{self.limits.max_bytes} bytes")  # fmt: skip
            if time.monotonic() > self.deadline:
                raise FetchError(f"prefetch {key}: fetching took longer than "
                                 f"{self.limits.total_seconds:g} s")  # fmt: skip
        return bytes(body)


# --- helpers --------------------------------------------------------------------------------


def _base(server: str) -> httpx.URL:
    """``fhirServer`` as a base URL ending in ``/``; https, or http on a loopback address."""
    try:
        url = httpx.URL(server)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise FetchError("fhirServer is not a URL") from None
    if url.scheme != "https" and not (url.scheme == "http" and _loopback(url.host)):
        raise FetchError("fhirServer must be an https URL (http only on a loopback address)")
    if url.query or url.fragment:
        raise FetchError("fhirServer must be a base URL, without query or fragment")
    return url.copy_with(path=url.path.rstrip("/") + "/")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _on_server(url: str, base: httpx.URL) -> bool:
    """Whether a next-page link is on ``fhirServer`` (a link that is not a URL is not)."""
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return False
    return (target.scheme, target.host, target.port) == (
        base.scheme, base.host, base.port
    ) and target.path.startswith(base.path)  # fmt: skip


def _render(key: str, template: str, patient_id: str) -> str:
    if "{{" in template.replace(PATIENT_TOKEN, ""):
        raise FetchError(f"prefetch {key}: its template has a token this service does not fill")
    return template.replace(PATIENT_TOKEN, urllib.parse.quote(patient_id, safe=""))


def _resource_of(query: str) -> tuple[str, bool]:
    """(resource type, is a search) of ``Patient/123`` or ``Observation?patient=123``."""
    path, search, _ = query.partition("?")
    return path.split("/")[0], bool(search) or "/" not in path


def _entries(page: dict[str, Any]) -> list[Any]:
    """A search page's resources, without the server's OperationOutcome entries."""
    found = page.get("entry")
    return [
        {"resource": e["resource"], **({"fullUrl": e["fullUrl"]} if "fullUrl" in e else {})}
        for e in (found if isinstance(found, list) else [])
        if isinstance(e, dict)
        and isinstance(e.get("resource"), dict)
        and not (isinstance(e.get("search"), dict) and e["search"].get("mode") == "outcome")
    ]
