# SPDX-License-Identifier: Apache-2.0
"""``GET /docs``: the service's OpenAPI description as one self-contained HTML page.

FastAPI's own ``/docs`` (Swagger UI) and ``/redoc`` load their scripts and styles from a CDN,
which a service on a closed hospital network cannot reach and which would send every reader's
address to a third party. The application disables both (``docs_url=None, redoc_url=None``) and
serves this page instead: every path and method with its summary, request content types and
response codes, rendered on the server from ``app.openapi()`` with no script and nothing
fetched; the machine-readable description stays at ``/openapi.json``.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from engine.differential import DISCLAIMER
from engine.report.html import CSS

METHODS = ("get", "post", "put", "patch", "delete")
CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"


def docs_html(spec: dict[str, Any]) -> str:
    """The OpenAPI document as a readable page."""
    info = spec.get("info", {})
    rows = []
    for path, item in sorted(spec.get("paths", {}).items()):
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            body = op.get("requestBody", {}).get("content", {})
            codes = ", ".join(
                f"{code} {op['responses'][code].get('description', '')}".strip()
                for code in sorted(op.get("responses", {}))
            )
            rows.append(
                f'<tr data-path="{escape(path)}" data-method="{method}"><td><code>'
                f"{method.upper()} {escape(path)}</code></td>"
                f"<td>{escape(op.get('summary') or op.get('description') or '')}</td>"
                f"<td>{escape(', '.join(body) or '-')}</td><td>{escape(codes)}</td></tr>"
            )
    note = f'<p class="disclaimer" data-role="disclaimer">{escape(DISCLAIMER)}</p>'
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(str(info.get('title', 'API')))}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(str(info.get('title', 'API')))} {escape(str(info.get('version', '')))}"
        f"</h1>{note}<p>{escape(str(info.get('description', '')))}</p>"
        '<p>The machine-readable description: <a href="openapi.json">openapi.json</a>.</p>'
        "<table><tr><th>endpoint</th><th>what it does</th><th>request body</th>"
        f"<th>responses</th></tr>{''.join(rows)}</table>{note}</body></html>\n"
    )


def add_docs_route(app: FastAPI) -> None:
    """``GET /docs``, public like ``/openapi.json`` (it holds no patient data)."""

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}
        return HTMLResponse(docs_html(app.openapi()), headers=headers)
