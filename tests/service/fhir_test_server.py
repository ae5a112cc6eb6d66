# SPDX-License-Identifier: Apache-2.0
"""A small FHIR R4 server for the tests: read, search and paging over a fixed set of resources.

Started as its own process on 127.0.0.1 (``python -m tests.service.fhir_test_server --data FILE
... --port N --token T``), it serves the resources of the given JSON files (single resources, or
Bundles whose entries are taken one by one; the tests give it HL7's own R4 examples) under the
base URL ``http://127.0.0.1:N/fhir``, the way a FHIR server answers a CDS service:

* ``GET /fhir/{type}/{id}``: the resource, or 404 with an OperationOutcome;
* ``GET /fhir/{type}?...``: a ``searchset`` Bundle. Search parameters: ``patient`` / ``subject``
  (a reference to the patient, ``123`` or ``Patient/123``), ``_id``, ``code`` (a comma list of
  ``system|code`` or ``code``: any coding matches), ``status`` (a comma list), ``date`` (``ge``,
  ``gt``, ``le``, ``lt`` or ``eq`` and a ``YYYY-MM-DD`` date, repeatable: the resource's effective
  or authored date), ``_sort`` (``date`` or ``-date``), ``_count`` (page size, at most
  ``--page-size``), ``_revinclude=DiagnosticReport:result`` (the reports that list a page's
  matches, as ``include`` entries). A parameter it does not know is a 400, as a strict server
  answers, so that a test notices a query it did not expect;
* paging: ``Bundle.link`` ``next`` carries ``_offset``;
* ``GET /fhir/metadata``: a CapabilityStatement;
* every request needs ``Authorization: Bearer <token>`` (else 401).

Each request is logged to stderr as method, path and status, without headers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Resource = dict[str, Any]
KNOWN = {"patient", "subject", "_id", "code", "status", "date", "_sort", "_count", "_revinclude",
         "_offset"}  # fmt: skip
DATE_PATHS = (
    ("effectiveDateTime",), ("effectivePeriod", "start"), ("issued",), ("authoredOn",),
    ("onsetDateTime",), ("recordedDate",),
)  # fmt: skip


def load(files: list[Path]) -> dict[str, dict[str, Resource]]:
    """type -> id -> resource, from resources and Bundles' entries."""
    store: dict[str, dict[str, Resource]] = {}
    for file in files:
        data = json.loads(file.read_text())
        items = (
            [e["resource"] for e in data["entry"]] if data["resourceType"] == "Bundle" else [data]
        )
        for res in items:
            store.setdefault(res["resourceType"], {})[res["id"]] = res
    return store


def _get(node: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def date_of(res: Resource) -> str | None:
    for keys in DATE_PATHS:
        value = _get(res, keys)
        if isinstance(value, str):
            return value[:10]
    return None


def _matches_date(res: Resource, test: str) -> bool:
    prefix, day = (test[:2], test[2:]) if test[:2].isalpha() else ("eq", test)
    dt.date.fromisoformat(day)  # a malformed date is a 400
    own = date_of(res)
    if own is None:
        return False
    return {"ge": own >= day, "gt": own > day, "le": own <= day, "lt": own < day,
            "eq": own == day}[prefix]  # fmt: skip


def _codes(res: Resource) -> set[tuple[str | None, str]]:
    found = _get(res, ("code", "coding")) or []
    return {(c.get("system"), c.get("code")) for c in found if isinstance(c, dict)}


def matches(res: Resource, params: dict[str, list[str]]) -> bool:
    for name, values in params.items():
        for value in values:
            if name in ("patient", "subject"):
                wanted = value if "/" in value else f"Patient/{value}"
                if _get(res, ("subject", "reference")) != wanted:
                    return False
            elif name == "_id" and res.get("id") not in value.split(","):
                return False
            elif name == "status" and res.get("status") not in value.split(","):
                return False
            elif name == "code":
                tokens = [t.split("|", 1) if "|" in t else [None, t] for t in value.split(",")]
                have = _codes(res)
                if not any((s, c) in have or (s is None and c in {x for _, x in have})
                           for s, c in tokens):  # fmt: skip
                    return False
            elif name == "date" and not _matches_date(res, value):
                return False
    return True


class Handler(BaseHTTPRequestHandler):
    store: dict[str, dict[str, Resource]] = {}
    token = ""
    page_size = 50

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        sys.stderr.write(f"fhir-test-server {format % args}\n")

    def answer(self, status: int, body: Resource) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def outcome(self, status: int, text: str) -> None:
        issue = {"severity": "error", "code": "processing", "diagnostics": text}
        self.answer(status, {"resourceType": "OperationOutcome", "issue": [issue]})

    def do_GET(self) -> None:  # noqa: N802 - the base's name
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self.outcome(401, "a valid bearer token is required")
            return
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if parts[:1] != ["fhir"] or len(parts) not in (2, 3):
            self.outcome(404, "not a FHIR endpoint")
        elif parts[1] == "metadata":
            self.answer(200, {"resourceType": "CapabilityStatement", "status": "active",
                              "kind": "instance", "fhirVersion": "4.0.1",
                              "format": ["json"]})  # fmt: skip
        elif len(parts) == 3:
            res = self.store.get(parts[1], {}).get(parts[2])
            if res is None:
                self.outcome(404, f"{parts[1]}/{parts[2]} is not known")
            else:
                self.answer(200, res)
        else:
            try:
                self.search(parts[1], urllib.parse.parse_qs(url.query, keep_blank_values=True))
            except (ValueError, KeyError) as exc:
                self.outcome(400, f"bad search: {exc}")

    def search(self, kind: str, params: dict[str, list[str]]) -> None:
        unknown = set(params) - KNOWN
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)}")
        criteria = {k: v for k, v in params.items() if not k.startswith("_") or k == "_id"}
        found = [r for r in self.store.get(kind, {}).values() if matches(r, criteria)]
        found.sort(key=lambda r: r["id"])
        sort = params.get("_sort", [""])[0]
        if sort in ("date", "-date"):
            found.sort(key=lambda r: date_of(r) or "", reverse=sort == "-date")
        elif sort:
            raise ValueError(f"_sort {sort!r}")
        size = min(int(params.get("_count", [str(self.page_size)])[0]), self.page_size)
        offset = int(params.get("_offset", ["0"])[0])
        page = found[offset : offset + size]
        base = f"http://{self.headers.get('Host')}/fhir"
        entries = [{"fullUrl": f"{base}/{kind}/{r['id']}", "resource": r,
                    "search": {"mode": "match"}} for r in page]  # fmt: skip
        if params.get("_revinclude"):
            if params["_revinclude"] != ["DiagnosticReport:result"]:
                raise ValueError(f"_revinclude {params['_revinclude']}")
            refs = {f"{kind}/{r['id']}" for r in page}
            for report in self.store.get("DiagnosticReport", {}).values():
                if refs & {_get(x, ("reference",)) for x in report.get("result", [])}:
                    entries.append({"fullUrl": f"{base}/DiagnosticReport/{report['id']}",
                                    "resource": report, "search": {"mode": "include"}})  # fmt: skip
        bundle: Resource = {"resourceType": "Bundle", "type": "searchset", "total": len(found),
                            "entry": entries}  # fmt: skip
        if offset + size < len(found):
            nxt = {**params, "_offset": [str(offset + size)]}
            query = urllib.parse.urlencode(nxt, doseq=True, safe="|,:")
            bundle["link"] = [{"relation": "next", "url": f"{base}/{kind}?{query}"}]
        self.answer(200, bundle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, action="append", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--page-size", type=int, default=50)
    args = parser.parse_args()
    Handler.store = load(args.data)
    Handler.token = args.token
    Handler.page_size = args.page_size
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    sys.stderr.write(f"fhir-test-server listening on 127.0.0.1:{args.port}\n")
    sys.stderr.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
