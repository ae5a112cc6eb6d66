# SPDX-License-Identifier: Apache-2.0
"""Accuracy of a batch against the case files' ``expected`` and ``acceptable`` (contract 4).

Everything is computed in one streaming pass over the result lines (:func:`summarize`), so memory
does not grow with the number of cases; the lists of misses and errors are streamed again from
the same lines when they are written out (:func:`iter_misses`, :func:`iter_errors`,
:func:`write_summary`). The definitions of every figure are written into the summary itself
(:data:`DEFINITIONS`).

The per-drug view (:class:`DrugStats`, ``per_drug`` in the summary) reads the ``drugs`` of each
result line (the courses of the known drugs, :mod:`engine.batch.exposure`) against the
differential: a drug is implicated in a case when the evidence of the rank-1 cause, or an alert,
rests on one of its course facts (``x:<drug>#n``), which is how every drug rule of the knowledge
base names the drug. Onset times are kept as a histogram of days, so the median costs memory in
the number of distinct onset days, not cases.
"""

from __future__ import annotations

import bisect
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

DEFINITIONS: dict[str, str] = {
    "n": "cases that carry 'expected' (including cases that ended in an error, which count as "
         "misses everywhere)",
    "hit": "a case is a hit at rank k when any of its expected causes is ranked k or better",
    "top1": "hits at rank 1 / n",
    "top3": "hits at rank 3 or better / n",
    "mrr": "mean over n of 1/rank of the best-ranked expected cause (0 when none is ranked)",
    "top1_acceptable": "cases whose rank-1 cause is in expected or acceptable / n; 'acceptable' "
                       "is counted only here, never in top1, top3, mrr or the per-cause figures",
    "recall_at_1": "per cause: hits at rank 1 among the cases that list it in expected",
    "precision_at_1": "per cause: cases ranking it first that list it in expected / cases "
                      "ranking it first",
    "confusion": "rows: the expected cause (the one ranked first when it is a hit, else the "
                 "first listed); columns: the rank-1 cause, or '(none)'; error cases left out",
    "rank_distribution": "rank of the best-ranked expected cause; 'not ranked' when no expected "
                         "cause is a candidate, 'error' when the case failed",
    "per_drug": "per known drug, over the cases that succeeded: 'exposed' cases with a course of "
                "it; 'ranked_first' cases whose rank-1 cause rests on its course (the cause's "
                "evidence cites the course fact, or names the drug among its agents); 'alerts' "
                "alerts resting on its course, by alert id, and 'cases_with_alert' the cases with "
                "at least one; 'median_onset_days' the median, over the 'onset_cases' whose count "
                "first fell while on the drug, of the days from the start of that course to the "
                "first low WBC or ANC (a first low count after the stop, or before the start, is "
                "not an onset on the drug)",
    "alerts": "cases_by_level counts each case once, at the most urgent level of its alerts "
              "(none: no alert); cases_per_alert counts the cases raising each alert; "
              "critical_cases names the cases with a critical alert (at most 1000, the first by "
              "id, in id order; every case's alerts are in its result line and the --table "
              "alerts column)",
}  # fmt: skip

NONE = "(none)"


@dataclass
class DrugStats:
    """What one drug did across a batch (see ``per_drug`` in :data:`DEFINITIONS`)."""

    exposed: int = 0
    ranked_first: int = 0
    cases_with_alert: int = 0
    alerts: Counter[str] = field(default_factory=Counter)
    onsets: Counter[int] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        n_onset = sum(self.onsets.values())
        return {
            "exposed": self.exposed,
            "ranked_first": self.ranked_first,
            "ranked_first_share": round(self.ranked_first / self.exposed, 4)
            if self.exposed
            else None,
            "cases_with_alert": self.cases_with_alert,
            "alerts": dict(sorted(self.alerts.items())),
            "onset_cases": n_onset,
            "median_onset_days": median(self.onsets),
        }


def median(histogram: Counter[int]) -> float | None:
    """The median of values given as ``{value: count}`` (None when empty)."""
    n = sum(histogram.values())
    if n == 0:
        return None
    middle = ((n - 1) // 2, n // 2)
    found: list[int] = []
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        while len(found) < 2 and seen > middle[len(found)]:
            found.append(value)
    return (found[0] + found[1]) / 2


@dataclass
class Summary:
    """The aggregate figures of a batch (the lists of misses and errors are streamed apart)."""

    n_cases: int = 0
    n_ok: int = 0
    n_failed: int = 0
    n_duplicate_ids: int = 0  # cases run under their position: an earlier case took their id
    n: int = 0
    hits1: int = 0
    hits3: int = 0
    hits1_acceptable: int = 0
    reciprocal_sum: float = 0.0
    misses: int = 0
    knowledge_base: dict[str, Any] | None = None
    support: Counter[str] = field(default_factory=Counter)
    recalled: Counter[str] = field(default_factory=Counter)
    predicted: Counter[str] = field(default_factory=Counter)
    correct: Counter[str] = field(default_factory=Counter)
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    ranks: Counter[str] = field(default_factory=Counter)
    drugs: dict[str, DrugStats] = field(default_factory=dict)
    alert_cases: Counter[str] = field(default_factory=Counter)  # cases by their highest level
    alert_ids: Counter[str] = field(default_factory=Counter)  # cases raising each alert
    critical: list[dict[str, Any]] = field(default_factory=list)  # the first CRITICAL_LISTED

    def ratio(self, hits: float) -> float | None:
        return round(hits / self.n, 4) if self.n else None

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready figures (without the misses and errors lists)."""
        # imported here: the main process of a batch adds figures up without loading pydantic
        from engine.differential import DISCLAIMER

        return {
            "n": self.n, "n_cases": self.n_cases, "n_ok": self.n_ok, "n_failed": self.n_failed,
            "n_duplicate_ids": self.n_duplicate_ids,
            "top1": self.ratio(self.hits1), "top3": self.ratio(self.hits3),
            "mrr": self.ratio(self.reciprocal_sum),
            "top1_acceptable": self.ratio(self.hits1_acceptable),
            "hits": {"top1": self.hits1, "top3": self.hits3,
                     "top1_acceptable": self.hits1_acceptable, "misses": self.misses},
            "per_cause": self.per_cause(), "confusion": self.confusion_table(),
            "rank_distribution": dict(sorted(self.ranks.items(), key=lambda kv: _rank_key(kv[0]))),
            "per_drug": self.per_drug(), "alerts": self.alerts(),
            "knowledge_base": self.knowledge_base, "definitions": DEFINITIONS,
            "disclaimer": DISCLAIMER,
        }  # fmt: skip

    def alerts(self) -> dict[str, Any]:
        """Cases by their highest alert level, cases per alert, and the critical cases (the
        first :data:`CRITICAL_LISTED` by id, in id order): a batch over a lab
        export is a screening, and its critical patients must be found without reading every
        result line."""
        return {
            "cases_by_level": {level: self.alert_cases[level] for level in ALERT_LEVELS},
            "cases_per_alert": dict(sorted(self.alert_ids.items(), key=lambda kv: (-kv[1], kv[0]))),
            "critical_cases": self.critical,
            "critical_cases_listed": len(self.critical),
        }

    def per_cause(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for cause in sorted(set(self.support) | set(self.predicted)):
            support, predicted = self.support[cause], self.predicted[cause]
            out[cause] = {
                "support": support,
                "recall_at_1": round(self.recalled[cause] / support, 4) if support else None,
                "predicted_at_1": predicted,
                "precision_at_1": round(self.correct[cause] / predicted, 4) if predicted else None,
            }
        return out

    def per_drug(self) -> dict[str, dict[str, Any]]:
        """The per-drug figures, most exposed drug first (ties by name)."""
        order = sorted(self.drugs.items(), key=lambda kv: (-kv[1].exposed, kv[0]))
        return {drug: stats.as_dict() for drug, stats in order}

    def confusion_table(self) -> dict[str, Any]:
        rows = sorted({r for r, _ in self.confusion})
        cols = sorted({c for _, c in self.confusion}, key=lambda c: (c == NONE, c))
        return {
            "rows": rows,
            "columns": cols,
            "counts": [[self.confusion[(r, c)] for c in cols] for r in rows],
        }


def _rank_key(label: str) -> tuple[int, int]:
    return (0, int(label)) if label.isdigit() else (1, 0 if label == "not ranked" else 1)


@dataclass(frozen=True)
class Scored:
    """One result line as the metrics see it."""

    record: dict[str, Any]
    expected: tuple[str, ...]
    acceptable: tuple[str, ...]
    top1: str | None
    rank: int | None  # best rank of an expected cause


def score(record: dict[str, Any]) -> Scored:
    expected = tuple(record.get("expected") or ())
    acceptable = tuple(record.get("acceptable") or ())
    candidates = (record.get("differential") or {}).get("candidates") or []
    top1 = candidates[0]["cause"] if candidates else None
    ranks = [c["rank"] for c in candidates if c["cause"] in expected]
    return Scored(record, expected, acceptable, top1, min(ranks) if ranks else None)


def iter_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """The result lines of a batch output file, parsed one at a time."""
    with Path(path).open("rb") as fh:
        for raw in fh:
            if raw.strip():
                yield json.loads(raw)


def summarize(records: Iterable[dict[str, Any]]) -> Summary:
    """Aggregate figures over result records (one pass)."""
    s = Summary()
    for record in records:
        _add(s, score(record))
    return s


#: Alert levels from the most urgent; "none" counts the cases that raised no alert.
ALERT_LEVELS: tuple[str, ...] = ("critical", "warning", "info", "none")
#: How many critical cases the summary names (all are in the result lines and ``--table``).
CRITICAL_LISTED = 1000


def _add_alerts(s: Summary, record: dict[str, Any]) -> None:
    alerts = (record.get("differential") or {}).get("alerts") or []
    levels = {a.get("level") for a in alerts}
    s.alert_cases[next((lv for lv in ALERT_LEVELS[:3] if lv in levels), "none")] += 1
    s.alert_ids.update({a["id"] for a in alerts if "id" in a})
    if "critical" in levels:
        # kept in id order, the first CRITICAL_LISTED ids: with several workers cases finish in
        # no set order, and the list (and the terminal's first ten) changed from run to run
        ids = sorted({a["id"] for a in alerts if a.get("level") == "critical"})
        bisect.insort(s.critical, {"id": record.get("id"), "alerts": ids}, key=_case_id)
        if len(s.critical) > CRITICAL_LISTED:
            s.critical.pop()


def _case_id(entry: dict[str, Any]) -> str:
    return str(entry["id"])


def _add(s: Summary, sc: Scored) -> None:
    s.n_cases += 1
    ok = bool(sc.record.get("ok"))
    s.n_ok += ok
    s.n_failed += not ok
    s.n_duplicate_ids += "duplicate_of" in sc.record
    if ok and s.knowledge_base is None:
        s.knowledge_base = sc.record["differential"].get("knowledge_base")
    if ok:
        _add_alerts(s, sc.record)
    if ok and sc.record.get("drugs"):
        _add_drugs(s, sc.record)
    if not sc.expected:
        return
    s.n += 1
    s.support.update(set(sc.expected))
    if not ok:
        s.ranks["error"] += 1
        return
    hit1 = sc.rank == 1
    s.hits1 += hit1
    s.misses += not hit1
    s.hits3 += sc.rank is not None and sc.rank <= 3
    s.reciprocal_sum += 1.0 / sc.rank if sc.rank else 0.0
    s.hits1_acceptable += sc.top1 is not None and sc.top1 in (*sc.expected, *sc.acceptable)
    s.ranks[str(sc.rank) if sc.rank else "not ranked"] += 1
    if hit1:
        s.recalled.update(set(sc.expected))
    if sc.top1 is not None:
        s.predicted[sc.top1] += 1
        s.correct[sc.top1] += sc.top1 in sc.expected
    row = sc.top1 if hit1 and sc.top1 is not None else sc.expected[0]
    s.confusion[(row, sc.top1 or NONE)] += 1


def _add_drugs(s: Summary, record: dict[str, Any]) -> None:
    """Count one case's drugs (``record["drugs"]``) against its differential."""
    differential = record["differential"]
    candidates = differential.get("candidates") or []
    top = candidates[0] if candidates else {}
    top_facts = {f["id"] for e in top.get("evidence_for") or [] for f in e.get("facts") or []}
    top_agents = set(top.get("agents") or [])
    alert_facts = [(a["id"], _alert_fact_ids(a)) for a in differential.get("alerts") or []]
    courses: dict[str, list[dict[str, Any]]] = {}
    for course in record["drugs"]:
        courses.setdefault(course["drug"], []).append(course)
    for drug, its in courses.items():
        stats = s.drugs.setdefault(drug, DrugStats())
        facts = {c["fact"] for c in its}
        stats.exposed += 1
        stats.ranked_first += bool(facts & top_facts) or drug in top_agents
        raised = [alert for alert, ids in alert_facts if facts & ids]
        stats.alerts.update(raised)
        stats.cases_with_alert += bool(raised)
        onset = next((c.get("onset_days") for c in its if c.get("on_drug_at_onset")), None)
        if isinstance(onset, int):
            stats.onsets[onset] += 1


def _alert_fact_ids(alert: dict[str, Any]) -> set[str]:
    ids = {f["id"] for f in alert.get("facts") or []}
    for link in alert.get("chain") or []:
        ids |= {u["id"] for u in link.get("used") or []}
    return ids


def iter_misses(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Successful cases with ``expected`` whose rank-1 cause is not expected."""
    for record in records:
        miss = _miss(score(record))
        if miss is not None:
            yield miss


def _miss(sc: Scored) -> dict[str, Any] | None:
    if not (sc.record.get("ok") and sc.expected and sc.rank != 1):
        return None
    return {
        "id": sc.record["id"],
        "source_file": sc.record.get("source_file"),
        "expected": list(sc.expected),
        "top1": sc.top1,
        "rank": sc.rank,
    }


class Tally:
    """A :class:`Summary` built while a batch runs, one result line at a time, and its first
    ``keep_misses`` misses (for the terminal table), so that the figures need no second pass
    over the results file. Each line is given as its record or as the part of it the figures
    read (:mod:`engine.batch.slim`), in the order of the file."""

    def __init__(self, keep_misses: int = 10) -> None:
        self.summary = Summary()
        self.misses: list[dict[str, Any]] = []
        self.keep_misses = keep_misses

    def add(self, record: dict[str, Any]) -> None:
        sc = score(record)
        _add(self.summary, sc)
        if len(self.misses) < self.keep_misses and (miss := _miss(sc)) is not None:
            self.misses.append(miss)


def iter_errors(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Cases that ended in an error, with the field and message."""
    for record in records:
        if not record.get("ok"):
            error = record.get("error") or {}
            yield {
                "id": record["id"],
                "source_file": record.get("source_file"),
                "field": error.get("field"),
                "message": error.get("message"),
            }


def write_summary(summary: Summary, results: str | Path, out: TextIO) -> None:
    """The summary JSON: the figures, then the misses and errors streamed from ``results``."""
    head = json.dumps(summary.as_dict(), indent=2, ensure_ascii=False)
    out.write(head[: head.rstrip().rfind("}")].rstrip() + ',\n  "misses": [')
    _write_list(iter_misses(iter_records(results)), out)
    out.write('],\n  "errors": [')
    _write_list(iter_errors(iter_records(results)), out)
    out.write("]\n}\n")


def _write_list(items: Iterable[dict[str, Any]], out: TextIO) -> None:
    for i, item in enumerate(items):
        out.write(("," if i else "") + "\n    " + json.dumps(item, ensure_ascii=False))


def pct(value: float | None) -> str:
    """A ratio as a percentage for people ('-' when there is nothing to divide by)."""
    return "-" if value is None else f"{100 * value:.1f}%"


def case_counts(summary: Summary) -> str:
    """``cases 27: 25 ok, 2 failed`` and, when there are any, ``, 1 with a duplicate id (run
    under their position)``: the first words of every batch summary printed."""
    n = summary.n_duplicate_ids
    dup = f", {n} with a duplicate id (run under their position)" if n else ""
    line = f"cases {summary.n_cases}: {summary.n_ok} ok, {summary.n_failed} failed{dup}"
    levels = summary.alert_cases
    if levels["critical"] or levels["warning"]:
        line += (
            f"\nalerts: {levels['critical']} case(s) critical, {levels['warning']} warning "
            f"(highest level per case)"
        )
    if summary.critical:
        shown = ", ".join(
            f"{c['id']} ({', '.join(c['alerts'])})" for c in summary.critical[:CRITICAL_SHOWN]
        )
        more = levels["critical"] - min(len(summary.critical), CRITICAL_SHOWN)
        line += f"\ncritical: {shown}" + (
            f" and {more} more (summary JSON, --table)" if more else ""
        )
    return line


#: How many critical cases the terminal names.
CRITICAL_SHOWN = 10


def format_summary(
    summary: Summary, *, max_misses: int = 10, misses: Iterable[dict[str, Any]] = ()
) -> str:
    """A plain-text table of the figures (for the terminal)."""
    d = summary.as_dict()
    lines = [
        f"{case_counts(summary)}; {d['n']} with expected causes",
        f"top-1 {pct(d['top1'])}  top-3 {pct(d['top3'])}  MRR "
        f"{'-' if d['mrr'] is None else format(d['mrr'], '.3f')}  top-1 incl. acceptable "
        f"{pct(d['top1_acceptable'])}",
    ]
    if d["per_cause"]:
        lines += [
            "",
            f"{'cause':32} {'n':>5} {'recall@1':>9} {'ranked 1st':>10} {'precision@1':>11}",
        ]
        for cause, row in d["per_cause"].items():
            lines.append(
                f"{cause:32} {row['support']:>5} {pct(row['recall_at_1']):>9} "
                f"{row['predicted_at_1']:>10} {pct(row['precision_at_1']):>11}"
            )
    shown = [m for _, m in zip(range(max_misses), misses, strict=False)]
    if shown:
        lines += ["", f"misses (first {len(shown)} of {summary.misses}):"]
        lines += [
            f"  {_shown(m['id'])}: expected {', '.join(m['expected'])}; "
            f"rank 1 {m['top1'] or NONE}; expected at rank {m['rank'] or 'not ranked'}"
            for m in shown
        ]
    return "\n".join(lines)


def _shown(text: object) -> str:
    """A case id for the terminal: ids come from input files, and an escape sequence or a bidi
    override in one must not repaint or reorder what a user reads; such characters are shown as
    their escapes."""
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape", "backslashreplace").decode("ascii")
        for ch in str(text)
    )


def format_drugs(summary: Summary, *, max_drugs: int = 20) -> str:
    """The per-drug view as a plain-text table (for the terminal); empty without drugs."""
    rows = list(summary.per_drug().items())
    if not rows:
        return ""
    lines = [f"{'drug':30} {'exposed':>7} {'ranked 1st':>10} {'alerts':>6} {'median onset':>12}"]
    for drug, d in rows[:max_drugs]:
        onset = "-" if d["median_onset_days"] is None else f"{d['median_onset_days']:g} d"
        lines.append(
            f"{drug:30} {d['exposed']:>7} {d['ranked_first']:>10} "
            f"{sum(d['alerts'].values()):>6} {onset:>12}"
        )
    if len(rows) > max_drugs:
        lines.append(f"({len(rows) - max_drugs} more drugs in the summary JSON)")
    return "\n".join(lines)
