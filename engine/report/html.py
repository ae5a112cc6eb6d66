# SPDX-License-Identifier: Apache-2.0
"""HTML building blocks shared by the batch and patient reports.

Self-contained pages (inline CSS and SVG, no script, no network), every text escaped with
:func:`html.escape`, the disclaimer on every page. :func:`differential_html` renders one
:class:`~engine.differential.Differential` (contract section 3) the way a clinician reads it:
alerts first, the ranked causes with their evidence for and against, each evidence item's
derivation chain, then the numbered references with PubMed/DOI links.
"""

from __future__ import annotations

from html import escape

from engine.differential import DISCLAIMER, Candidate, Citation, Differential, Evidence, Link
from engine.wording import (
    finding_text,
    inputs_of,
    likelihood,
    percent,
    resulted_text,
    value_text,
)

CSS = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1em 2em;color:#222}
h1{font-size:1.5em}
h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
.disclaimer{background:#fff8e1;border:1px solid #e0c36a;padding:.5em .8em;border-radius:4px}
.metrics{display:flex;gap:1em;flex-wrap:wrap}.metric{border:1px solid #ccc;border-radius:6px;
padding:.5em 1em;min-width:8em}.metric .v{font-size:1.6em;font-weight:bold}.metric .k{color:#555}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .5em;
text-align:left;vertical-align:top}th{background:#f3f3f3}
.alert{border-left:5px solid #c0392b;background:#fdecea;padding:.4em .8em;margin:.4em 0}
.alert.warning{border-color:#e67e22;background:#fef5e7}.alert.info{border-color:#2f6f9f;background:#eef5fb}
.cand{border:1px solid #ddd;border-radius:6px;padding:.4em .8em;margin:.6em 0}
.for{color:#1e6b34}.against{color:#9b2c2c}.chain{color:#555;font-size:.9em}
.case{border-top:3px solid #2f6f9f;margin-top:2em}.muted{color:#777}
sup a{text-decoration:none}
.tl-wide svg,.tl-narrow svg{max-width:100%;height:auto;display:block}
.tl-narrow{display:none}
ol.refs,.chain,.alert,.cand{overflow-wrap:anywhere}
@media (max-width:900px){.tl-wide{display:none}.tl-narrow{display:block}}
table.counts td,table.counts th{white-space:nowrap}table.counts td:last-child{white-space:normal}
@media (max-width:700px){body{padding:.5em 1em}table.counts td,table.counts th{white-space:normal}}
"""


def page(title: str, body: list[str]) -> str:
    """A whole HTML document with the disclaimer at the top and the bottom."""
    note = f'<p class="disclaimer" data-role="disclaimer">{escape(DISCLAIMER)}</p>'
    return "<!DOCTYPE html>\n" + head(title) + note + "".join(body) + note + "</body></html>\n"


def head(title: str) -> str:
    """The start of a page, up to the opening of ``<body>``."""
    return (
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<style>{CSS}</style></head><body><h1>{escape(title)}</h1>"
    )


def safe_url(url: str | None) -> str | None:
    """Only http(s) links are made clickable."""
    return url if url and url.lower().startswith(("https://", "http://")) else None


def citation_html(c: Citation) -> str:
    """One reference with its identifiers as links (PubMed, DOI, PMC, URL)."""
    parts = [escape(p.strip().rstrip(".")) for p in (c.authors, c.title, c.source) if p]
    if c.year:
        parts.append(str(c.year))
    links = []
    if c.pmid:
        links.append(_link(f"https://pubmed.ncbi.nlm.nih.gov/{c.pmid}/", f"PMID {c.pmid}"))
    if c.doi:
        links.append(_link(f"https://doi.org/{c.doi}", f"doi:{c.doi}"))
    if c.pmcid:
        links.append(_link(f"https://www.ncbi.nlm.nih.gov/pmc/articles/{c.pmcid}/", c.pmcid))
    if c.label_section:
        links.append(escape(f"section {c.label_section}"))
    if safe_url(c.url) and not (c.pmid or c.doi):
        links.append(_link(c.url or "", c.url or ""))
    kind = f' <span class="muted">({escape(c.kind)})</span>'
    return ". ".join(parts) + ". " + "; ".join(links) + kind


def _link(url: str, text: str) -> str:
    href = safe_url(url)
    if href is None:
        return escape(text)
    return f'<a href="{escape(href, quote=True)}" rel="noreferrer">{escape(text)}</a>'


class Refs:
    """Numbers the citations of one differential in order of first use, with anchors."""

    def __init__(self, citations: list[Citation], prefix: str) -> None:
        self.by_id = {c.id: c for c in citations}
        self.prefix = prefix
        self.order: list[str] = []

    def mark(self, ids: list[str]) -> str:
        marks = []
        for cid in ids:
            if cid not in self.order:
                self.order.append(cid)
            n = self.order.index(cid) + 1
            marks.append(f'<a href="#{self.prefix}ref-{n}">{n}</a>')
        return f"<sup>[{','.join(marks)}]</sup>" if marks else ""

    def html(self) -> str:
        items = [
            f'<li id="{self.prefix}ref-{i}" data-citation="{escape(cid)}">'
            + (citation_html(self.by_id[cid]) if cid in self.by_id else escape(cid))
            + "</li>"
            for i, cid in enumerate(self.order, start=1)
        ]
        return f'<h3>References</h3><ol class="refs">{"".join(items)}</ol>' if items else ""


def differential_html(d: Differential, prefix: str = "", *, level: int = 2) -> str:
    """Alerts, ranked causes (evidence, chains, next steps), findings and numbered references."""
    return "".join(differential_parts(d, prefix, level=level).values())


def differential_parts(d: Differential, prefix: str = "", *, level: int = 2) -> dict[str, str]:
    """The sections of :func:`differential_html` by name (``meta``, ``alerts``, ``candidates``,
    ``findings``, ``references``), numbered together so that a page can place them apart."""
    refs = Refs(d.citations, prefix)
    h = f"h{level}"
    parts = {
        "meta": f'<p class="muted">As of {escape(d.as_of)}; knowledge base '
        f"{escape(d.knowledge_base.name)} {escape(d.knowledge_base.version)} "
        f"({escape(d.knowledge_base.content_hash[:12])}); backend "
        f"{escape(d.engine.backend)}; leukodx {escape(d.engine.version)}</p>"
    }
    alerts = []
    for a in d.alerts:
        on = "; ".join(value_text(r) for r in inputs_of(d, [f.id for f in a.facts]))
        alerts.append(
            f'<div class="alert {escape(a.level)}" data-role="alert"><b>'
            f"{escape(a.level.upper())}</b> {escape(a.message)}"
            + (f" <b>[{escape(on)}]</b>" if on else "")
            + f" <span class=muted>({escape(a.statement)})</span>{refs.mark(a.citations)}</div>"
        )
    parts["alerts"] = f"<{h}>Alerts</{h}>" + ("".join(alerts) or '<p class="muted">No alert.</p>')
    candidates = "".join(_candidate_html(c, refs) for c in d.candidates)
    parts["candidates"] = f"<{h}>Ranked differential</{h}>" + (
        candidates or '<p class="muted">No cause has supporting evidence.</p>'
    )
    findings = "".join(
        f"<li><b>{escape(finding_text(f))}</b> "
        f"<span class=muted>({escape(f.statement)})</span>{refs.mark(f.citations)}</li>"
        for f in d.findings
    )
    parts["findings"] = f"<{h}>Derived findings</{h}><ul>{findings}</ul>"
    if d.unknown_medications:
        parts["findings"] += (
            f"<p>Not in the drug lexicon (not used): {escape(', '.join(d.unknown_medications))}</p>"
        )
    parts["references"] = refs.html()
    return parts


def _candidate_html(c: Candidate, refs: Refs) -> str:
    out = [
        f'<div class="cand" data-cause="{escape(c.cause)}" data-rank="{c.rank}">'
        f"<b>{c.rank}. {escape(c.label)}</b>: {escape(likelihood(c.probability))} "
        f"({escape(percent(c.probability))}) <code>{escape(c.cause)}</code> "
        f'<span class="muted">score {c.score:+.2f} = prior {c.prior:+.2f} + evidence '
        f"{c.score - c.prior:+.2f}</span><ul>"
    ]
    out += [_evidence_html(e, refs, "for") for e in c.evidence_for]
    out += [_evidence_html(e, refs, "against") for e in c.evidence_against]
    out.append("</ul>")
    if c.next_steps:
        out.append(
            "<p>Next steps:</p><ul>"
            + "".join(
                f"<li>{escape(s.text)}{refs.mark(s.citations)}{escape(resulted_text(s))}</li>"
                for s in c.next_steps
            )
            + "</ul>"
        )
    return "".join(out) + "</div>"


def _evidence_html(e: Evidence, refs: Refs, side: str) -> str:
    word = "because" if side == "for" else "against"
    used = "; ".join(value_text(f) for f in e.facts)
    chain = "".join(_link_html(link, refs) for link in reversed(e.chain))
    detail = (
        f'<details class="chain"><summary>uses {escape(used)} (rule '
        f"{escape(e.rule_id)})</summary><ul>{chain}</ul></details>"
    )
    return (
        f'<li class="{side}" data-role="evidence-{side}">{word} {escape(e.statement)} '
        f"({e.weight:+g}){refs.mark(e.citations)}{detail}</li>"
    )


def _link_html(link: Link, refs: Refs) -> str:
    used = "; ".join(f"{u.name} = {u.value} ({u.how})" for u in link.used)
    return (
        f"<li>{escape(link.fact.name)} = {escape(str(link.fact.value))} by rule "
        f"{escape(link.rule_id)}: {escape(link.statement)}{refs.mark(link.citations)} "
        f"&larr; {escape(used)}</li>"
    )
