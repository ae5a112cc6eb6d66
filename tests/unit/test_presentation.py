# SPDX-License-Identifier: Apache-2.0
"""Evidence by source type and strength, clinical considerations, review status and currency
(lint --strict), the patient audience (plain language, no clinician-only terms), the thirty-second
note over every bundled case, facts in clinical words, and ``--explain``'s why-not."""

from __future__ import annotations

import datetime as dt
import math
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import InputError, diagnose, vocab
from engine.ask import Lead
from engine.differential import EVIDENCE_GROUPS, Differential, Evidence, Finding, Scalar
from engine.kb.catalog import INPUT_VALUES
from engine.kb.load import KnowledgeBase, lint
from engine.kb.registry import CITATION_KINDS
from engine.kb.schema import AddEvidence
from engine.kb.yamlio import load_patient_file
from engine.patient import parse_patient
from engine.render import (
    NOTE_LINES,
    WIDTH,
    _clip,
    consult_note,
    full_note,
    patient_candidates,
    patient_note,
)
from engine.why_not import check_cause, explain_cause, why_not, why_not_text
from engine.wording import (
    NOTE_COUNTS,
    fact_date,
    finding_text,
    inputs_of,
    likelihood,
    lr_brief,
    percent,
    quantity,
    value_text,
)
from tests.cli.test_cli import leukodx
from tests.conftest import CASES, MINI_KB
from tests.unit.test_engine_mini import clozapine_patient

TODAY = dt.date(2025, 3, 1)

#: Words a patient should not have to read (units, grading systems, statistics, dosing).
CLINICIAN_ONLY = (
    "ANC", "WBC", "CTCAE", "10^9/L", "/uL", "x 10", "log-odds", "likelihood", "score", "grade",
    "mg", "dose", "titer", "titre", "agranulocytosis", "neutropenia", "leukopenia", "LLN",
    "prior", "weight", "MASCC", "REMS", "ACKR1", "rs2814778",
)  # fmt: skip


def test_evidence_carries_source_kind_and_group_in_reading_order() -> None:
    d = diagnose(clozapine_patient(), kb=MINI_KB, today=TODAY)
    items = d.candidates[0].evidence_for
    assert {e.source_kind for e in items} == {"drug_label"}
    assert all(e.group == "drug_label" for e in items)
    keys = [(EVIDENCE_GROUPS.index(e.group), CITATION_KINDS.index(e.source_kind)) for e in items]
    assert keys == sorted(keys)
    note = full_note(d)
    assert "because, from the drug label:" in note


def test_real_kb_groups_guidelines_before_labels_before_research() -> None:
    d = diagnose("cases/clozapine_induced-01.yaml")
    for c in d.candidates:
        order = [EVIDENCE_GROUPS.index(e.group) for e in c.evidence_for]
        assert order == sorted(order)
        assert all(e.source_kind in CITATION_KINDS for e in c.evidence_for)


def test_considerations_follow_the_ranked_causes() -> None:
    d = diagnose(clozapine_patient(), kb=MINI_KB, today=TODAY)
    top = d.candidates[0]
    assert [s.text for s in top.considerations] == [
        "Follow the clozapine label's ANC table; interrupt when it says so."
    ]
    note = full_note(d)
    assert (
        note.index("DIFFERENTIAL")
        < note.index("CLINICAL CONSIDERATIONS")
        < note.index("REFERENCES")
    )
    assert "clozaril-label" in {c.id for c in d.citations}


def test_output_names_kb_currency_and_rule_status() -> None:
    d = diagnose(clozapine_patient(), kb=MINI_KB, today=TODAY)
    assert d.knowledge_base.last_updated == "2026-11-21"
    assert {r.rule_id for r in d.rules_used} == {t.rule_id for t in d.trace}
    assert {r.review_status for r in d.rules_used} == {"approved"}
    assert all(e.review_status == "approved" for e in d.candidates[0].evidence_for)
    assert "rules contributed (" in full_note(d)


@pytest.fixture()
def kb_copy(tmp_path: Path) -> Path:
    target = tmp_path / "kb"
    shutil.copytree(MINI_KB, target)
    return target


def test_strict_lint_rejects_drafts_and_overdue_reviews(kb_copy: Path) -> None:
    rules = kb_copy / "rules" / "findings.yaml"
    rules.write_text(rules.read_text().replace("review_status: approved", "review_status: draft"))
    assert not [p for p in lint(kb_copy) if p.severity == "error"]
    strict = [str(p) for p in lint(kb_copy, strict=True) if p.severity == "error"]
    assert strict == [
        "kb/rules/findings.yaml: review_status: the rules of this file are a draft (not reviewed)"
    ]
    result = leukodx("lint", "--strict", str(kb_copy))
    assert result.returncode == 2 and "draft" in result.stderr
    assert leukodx("lint", str(kb_copy)).returncode == 0
    rules.write_text(
        rules.read_text()
        .replace("review_status: draft", "review_status: approved")
        .replace("review_by: 2099-01-01", "review_by: 2021-01-01")
    )
    strict = [str(p) for p in lint(kb_copy, strict=True) if p.severity == "error"]
    assert strict == ["kb/rules/findings.yaml: review_by: review was due 2021-01-01"]


def test_patient_view_is_plain(kb_copy: Path) -> None:
    d = diagnose(clozapine_patient(findings=["fever"]), kb=MINI_KB, today=TODAY, audience="patient")
    assert d.audience == "patient"
    assert d.candidates[0].label == "A side effect of the medicine clozapine"
    assert d.alerts[0].message.startswith("A fever with very few")
    text = (
        patient_note(d)
        + "\n"
        + "\n".join(
            [c.label for c in d.candidates]
            + [e.statement for c in d.candidates for e in c.evidence_for]
            + [f.statement for f in d.findings]
            + [a.message for a in d.alerts]
        )
    )
    for term in CLINICIAN_ONLY:
        assert not re.search(rf"(?<![A-Za-z]){re.escape(term)}(?![A-Za-z])", text), term
    assert "discuss these results with your clinician" in d.disclaimer
    assert [c.cause for c in d.candidates] == [
        c.cause
        for c in diagnose(clozapine_patient(findings=["fever"]), kb=MINI_KB, today=TODAY).candidates
    ]


def test_patient_note_reads_out_only_the_likely_causes() -> None:
    """A patient reads the causes at or above 5% (at most five, always the first), then how many
    others were weighed; the structured differential keeps every candidate."""
    case = load_patient_file(Path(__file__).parents[2] / "cases" / "acute_leukemia-01.yaml")
    d = diagnose(case, today=TODAY, audience="patient")
    shown = patient_candidates(d.candidates)
    supported = [c for c in d.candidates if c.evidence_for]
    assert 1 <= len(shown) <= 5 < len(d.candidates)
    assert shown == supported[: len(shown)]  # a cause on its probability alone is not read out
    assert all(c.probability >= 0.05 for c in shown)
    note = patient_note(d)
    assert all(f"  {i}. {c.label}" in note for i, c in enumerate(shown, start=1))
    assert f"  {len(shown) + 1}. " not in note
    assert f"{len(d.candidates) - len(shown)} other explanations were also weighed" in note
    low = [c.model_copy(update={"probability": 0.01}) for c in d.candidates]
    assert patient_candidates(low) == [c for c in low if c.evidence_for][:1]
    # each cause carries its likelihood words, and a first cause under 33% says none stands out
    assert f"  1. {shown[0].label} ({likelihood(shown[0].probability)})" in note

    def with_top(p: float) -> Differential:
        first = d.candidates.index(shown[0])
        top = shown[0].model_copy(update={"probability": p})
        rest = [c for i, c in enumerate(d.candidates) if i != first]
        return d.model_copy(update={"candidates": [top, *rest]})

    assert "None of these stands out" in patient_note(with_top(0.2))
    assert f"  1. {shown[0].label} (unlikely)" in patient_note(with_top(0.2))
    assert "None of these stands out" not in patient_note(with_top(0.8))
    assert f"  1. {shown[0].label} (likely)" in patient_note(with_top(0.8))


def test_clinician_view_is_the_default_and_unchanged() -> None:
    a = diagnose(clozapine_patient(), kb=MINI_KB, today=TODAY)
    b = diagnose(clozapine_patient(), kb=MINI_KB, today=TODAY, audience="clinician")
    assert a.to_json() == b.to_json() and a.audience == "clinician"
    assert "not a diagnosis" in a.disclaimer


def test_unknown_audience_is_an_input_error() -> None:
    with pytest.raises(InputError, match="^audience: unknown audience"):
        diagnose({"wbc": 3.0}, kb=MINI_KB, today=TODAY, audience="public")


def test_cli_patient_audience(tmp_path: Path) -> None:
    from tests.cli.test_cli import PATIENT

    path = tmp_path / "p.yaml"
    path.write_text(PATIENT)
    result = leukodx("diagnose", str(path), "--audience", "patient", "--rules", str(MINI_KB))
    assert result.returncode == 0
    assert "A side effect of the medicine clozapine" in result.stdout
    assert "score" not in result.stdout


# --- the thirty-second note, the words of a fact, and --explain's why-not -----------------------


@pytest.fixture(scope="module")
def every_case(real_kb: KnowledgeBase) -> list[Differential]:
    """Every bundled case, on the CLIPS backend: the same differential as experta's (a test holds
    the two byte-identical), several times faster."""
    return [diagnose(path, kb=real_kb, backend="clips") for path in sorted(CASES.glob("*.yaml"))]


def test_short_note_fits_forty_lines_for_every_case(every_case: list[Differential]) -> None:
    assert len(every_case) >= 100
    for d in every_case:
        note = consult_note(d)
        lines = note.splitlines()
        assert len(lines) <= NOTE_LINES, (d.patient_id, len(lines))
        assert max(map(len, lines)) <= WIDTH, d.patient_id
        assert " ".join(note.split()).endswith(d.disclaimer), d.patient_id
        assert not re.search(r"\b(True|False|None)\b", note), d.patient_id
        if d.top is not None:
            chance = f"{likelihood(d.top.probability)} ({percent(d.top.probability)})"
            assert f"1. {d.top.label[:40]}" in note and chance in note, d.patient_id


def test_every_count_and_alert_in_the_note_carries_its_date(
    every_case: list[Differential],
) -> None:
    """The dates come from each value's ``how`` sentence: this fails the day a sentence changes."""
    for d in every_case:
        refs = {f.id: f for f in d.facts}
        note = consult_note(d)
        for test in NOTE_COUNTS:
            for fid in (f"v:{test}", f"v:{test}_nadir"):
                if fid in refs:
                    date = fact_date(refs[fid])
                    assert date is not None and f"{refs[fid].value:g} on {date}" in note, fid
        if "v:anc" in refs:
            how = "computed:" if "computed" in refs["v:anc"].how else "given"
            row = next(line for line in note.splitlines() if line.startswith("  ANC ("))
            assert row.rstrip().endswith(how) or how in row, (d.patient_id, row)
        for alert in d.alerts:
            for ref in inputs_of(d, [f.id for f in alert.facts]):
                if ref.id.startswith("v:") and ref.name in NOTE_COUNTS:
                    assert f"on {fact_date(ref)}" in value_text(ref)


def test_short_note_reads_like_a_consult(real_kb: KnowledgeBase) -> None:
    d = diagnose(CASES / "clozapine_induced-01.yaml", kb=real_kb)
    note = consult_note(d)
    heads = [note.index(h) for h in ("COUNTS", "ALERTS", "FINDINGS: ", "DIFFERENTIAL", "NEXT STEP")]
    assert heads == sorted(heads)
    assert re.search(
        r"ANC \(10\^9/L\)\s+0\.108 on 2020-01-25\s+0\.108 on 2020-01-25\s+1\s+computed: WBC 2\.7 x "
        r"4%\s+neutrophils / 100 \(bands not reported that day, not included\)",
        note,
    )
    assert "not measured: ALC, haemoglobin, platelets" in note
    assert "CRITICAL [ANC 0.108 x 10^9/L on 2020-01-25; clozapine] Clozapine label" in note
    assert "[ANC 0.108 x 10^9/L on 2020-01-25; finding fever (since 2020-01-26)]" in note
    assert "FINDINGS: agranulocytosis; chronicity: transient; CTCAE neutrophil grade: 4;" in note
    flat = " ".join(note.split())
    for c in d.candidates[:3]:
        strongest = sorted(c.evidence_for, key=lambda e: -abs(e.weight))[:2]
        for e in strongest:
            assert f"+ {' '.join(e.statement.split()[:6])}" in flat
            assert f"({lr_brief(e)})" in flat
        for e in c.evidence_for[2:]:
            if e not in strongest:
                assert e.statement[:40] not in flat
    top = d.candidates[0]
    assert f"NEXT STEPS for {top.label} (3 of {len(top.next_steps)}; --full lists all)" in note
    assert " ".join(top.next_steps[0].text.split()[:8]) in flat
    assert d.candidates[3].label not in note


def test_the_note_tightens_before_it_overflows(real_kb: KnowledgeBase) -> None:
    """A patient with more to say than forty lines hold loses blank lines and detail first, never
    an alert, a listed cause or the disclaimer."""
    d = diagnose(CASES / "clozapine_induced-01.yaml", kb=real_kb)
    crowded = d.model_copy(update={"alerts": d.alerts * 4})
    note = consult_note(crowded)
    assert "\n\n" not in note and len(note.splitlines()) <= NOTE_LINES
    assert note.count("  CRITICAL ") == 2 * 4 and note.count("  WARNING ") == 4
    # cut to one line, an alert says what it is, not only the values it rests on
    assert all(not line.split("CRITICAL ", 1)[1].startswith("[")
               for line in note.splitlines() if "  CRITICAL " in line)  # fmt: skip
    assert all(f"{c.rank}. {c.label[:30]}" in note for c in d.candidates[:3])
    assert " ".join(note.split()).endswith(d.disclaimer)


@given(
    words=st.lists(st.text(alphabet="abcdefgh;,.", min_size=1, max_size=15), max_size=60),
    lines=st.integers(min_value=1, max_value=4),
    tail=st.sampled_from(["", " (LR 42.2, fitted)"]),
)
def test_clipped_text_keeps_its_head_and_tail_within_its_lines(
    words: list[str], lines: int, tail: str
) -> None:
    out = _clip("  CRITICAL [ANC 0.1 on 2020-01-01] ", " ".join(words), tail, lines, "    ")
    assert 1 <= len(out) <= lines and all(len(line) <= WIDTH for line in out)
    assert out[0].startswith("  CRITICAL [ANC 0.1 on 2020-01-01]")
    assert " ".join(" ".join(out).split()).endswith(tail.strip())


SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from([*vocab.TRENDS, *vocab.SEXES, "severe", "transient"]),
)


@given(name=st.sampled_from(sorted(INPUT_VALUES)), value=SCALARS)
def test_a_value_in_words_is_never_a_python_literal(name: str, value: Scalar) -> None:
    text = quantity(name, value)
    assert not re.search(r"\b(True|False|None)\b", text) and "_" not in text
    finding = Finding(fact=name, value=value, rule_id=None, statement="s", citations=[], used=[])
    assert not re.search(r"\b(True|False|None)\b", finding_text(finding))


@given(p=st.floats(0, 1), q=st.floats(0, 1))
def test_probability_words_follow_the_numbers(p: float, q: float) -> None:
    scale = ["exceptionally unlikely", "very unlikely", "unlikely", "about as likely as not",
             "likely", "very likely"]  # fmt: skip
    low, high = sorted((p, q))
    assert scale.index(likelihood(low)) <= scale.index(likelihood(high))


def test_explain_checks_the_word_is_a_cause(real_kb: KnowledgeBase) -> None:
    assert check_cause(real_kb, "sle") == "sle"
    cases = {
        "clozapine": ("clozapine is a medication (clozapine), not a cause", "clozapine_induced"),
        "Clozaril": ("Clozaril is a medication (clozapine), not a cause", "clozapine_induced"),
        "clozapin_induced": ("unknown cause", "clozapine_induced"),
        "SLE": ("unknown cause", "sle"),
        "splenomegaly": ("splenomegaly is a finding, not a cause", None),
        "agranulocytosis": ("agranulocytosis is a patient fact, not a cause", None),
    }
    for word, (problem, suggestion) in cases.items():
        with pytest.raises(InputError) as caught:
            check_cause(real_kb, word)
        assert caught.value.field == "--explain" and caught.value.problem == problem
        assert caught.value.suggestion == suggestion, word


def test_why_not_scores_a_cause_as_the_ranking_does(real_kb: KnowledgeBase) -> None:
    """For a listed cause the why-not arithmetic must give the candidate's own score and
    probability: it reruns the same facts and rules (here on the other backend). Its place is
    among every cause by score, so it is the candidate's rank plus the unlisted causes that score
    above it (a cause below the listing floor with no evidence for it can still outscore a listed
    one that has some)."""
    for name in ("clozapine_induced-01", "megaloblastic-01", "sle-01"):
        path = CASES / f"{name}.yaml"
        d = diagnose(path, kb=real_kb, today=TODAY)
        patient = parse_patient(load_patient_file(path), today=TODAY)
        listed = {c.cause for c in d.candidates}
        unlisted = [
            why_not(real_kb, patient, d, x, backend="clips", today=TODAY)
            for x in real_kb.causes
            if x not in listed
        ]
        for c in d.candidates[:3]:
            w = why_not(real_kb, patient, d, c.cause, backend="experta", today=TODAY)
            above = sum(1 for u in unlisted if (-u.score, u.cause) < (-c.score, c.cause))
            assert (w.score, round(w.probability, 4)) == (c.score, c.probability)
            assert w.place == c.rank + above
            assert not w.blocked or all(b.rule.id not in {t.rule_id for t in d.trace}
                                        for b in w.blocked)  # fmt: skip


def test_why_not_says_what_an_unlisted_cause_lacks(real_kb: KnowledgeBase) -> None:
    path = CASES / "clozapine_induced-01.yaml"
    d = diagnose(path, kb=real_kb, today=TODAY)
    assert d.candidate("megaloblastic") is None
    patient = parse_patient(load_patient_file(path), today=TODAY)
    w = why_not(real_kb, patient, d, "megaloblastic", backend="experta", today=TODAY)
    assert w.probability < real_kb.manifest.model.list_floor and w.presentation
    fired = {t.rule_id for t in d.trace}
    rules = {r.id for r in real_kb.rules if isinstance(r.then, AddEvidence)
             and r.then.cause == "megaloblastic" and r.then.weight > 0}  # fmt: skip
    assert {b.rule.id for b in w.blocked} == rules - fired
    against = {r.id for r in real_kb.rules if isinstance(r.then, AddEvidence)
               and r.then.cause == "megaloblastic" and r.then.weight < 0}  # fmt: skip
    assert {r.id for r, _ in w.against} == against & fired
    low_b12 = next(b for b in w.blocked if b.rule.id == "megaloblastic.low_b12")
    assert low_b12.lacking == ("vitamin B12 < 200 pg/mL (unknown: not in the input)",)

    # the B12 result is a lead unless the leads listed (the strongest first, by the larger of
    # what each could add or remove) all move the score more than low B12 could add
    def reach(lead: Lead) -> float:
        return max(lead.could_add, -lead.could_remove)

    b12_weight = low_b12.rule.then.weight
    assert "vitamin_b12" in {lead.fact for lead in w.leads} or all(
        reach(lead) >= b12_weight for lead in w.leads
    )
    assert [reach(lead) for lead in w.leads] == sorted(map(reach, w.leads), reverse=True)
    text = why_not_text(w, d)
    assert text.startswith(f"{w.label} [megaloblastic] is not listed in this differential.")
    assert "is below the listing floor of 1%" in text and "lacks: " in text
    assert "To reach the top 3 its score needs +" in text
    assert " ".join(text.split()).endswith(d.disclaimer)


def test_an_input_not_used_is_named_with_its_reason_in_the_note_full_note_and_report() -> None:
    """A count given but unusable (here dated after as_of) is not "not measured": the note says
    it was given, and lists it with why, as do --full and the HTML report."""
    from engine.report.patient import patient_report

    data = {
        "as_of": "2025-03-01",
        "labs": [
            {"test": "wbc", "value": 4.5, "unit": "10^9/L", "date": "2025-03-01"},
            {"test": "anc", "value": 0.3, "unit": "10^9/L", "date": "2025-03-02"},
        ],
    }
    d = diagnose(data, today=TODAY)
    note = consult_note(d)
    assert "not measured: ANC (given, but not used: see below)" in note
    assert "Inputs not used (1):" in note
    assert "  - labs (anc on 2025-03-02): dated after as_of 2025-03-01; not used" in note
    assert "Inputs not used (1):" in full_note(d)
    html = patient_report(data, today=TODAY)
    assert 'data-role="unused"' in html and "dated after as_of 2025-03-01; not used" in html


def test_every_lead_could_move_the_score() -> None:
    """A fact whose rules the fit left at LR 1 would move nothing: it is not a lead."""
    from engine.ask import NEGLIGIBLE

    for path in sorted(CASES.glob("*.yaml"))[:40]:
        for c in diagnose(path, today=TODAY).candidates:
            for lead in c.ask_next:
                assert max(lead.could_add, -lead.could_remove) >= NEGLIGIBLE, (path, lead)


def test_an_alert_names_each_value_it_rests_on_once() -> None:
    """Two course rows of one drug (an export's duplicate) read "clozapine; clozapine"."""
    course = {"name": "clozapine", "start": "2025-01-01"}
    d = diagnose({"as_of": "2025-02-10", "medications": [course, dict(course)], "labs": [
        {"test": "wbc", "value": 1.9, "unit": "10^9/L", "date": "2025-02-10"},
        {"test": "anc", "value": 0.3, "unit": "10^9/L", "date": "2025-02-10"}]})  # fmt: skip
    note = consult_note(d)
    assert "clozapine; clozapine" not in note and "; clozapine]" in note


def test_shared_citation_lists_cannot_be_changed_under_later_results() -> None:
    """Probe 12: clearing one result's next-step citations emptied them for every later patient,
    and appending an unknown id made every later diagnose() fail."""
    import copy
    import pickle

    first = diagnose(str(CASES / "clozapine_induced-01.yaml"))
    shared = first.candidates[0].next_steps[0].citations
    with pytest.raises(TypeError, match="shared"):
        shared.clear()
    with pytest.raises(TypeError, match="shared"):
        shared.append("nonexistent-ref")
    later = diagnose(str(CASES / "clozapine_induced-02.yaml"))
    assert all(step.citations for c in later.candidates for step in c.next_steps)
    mine = copy.deepcopy(first)
    mine.candidates[0].next_steps[0].citations.append("mine")  # a copy is the caller's own
    assert pickle.loads(pickle.dumps(first)) == first and first.model_copy(deep=True) == first


def test_today_must_be_a_date() -> None:
    with pytest.raises(InputError) as caught:
        diagnose({"wbc": 2.0}, today="2025-03-01")  # type: ignore[arg-type]
    assert caught.value.field == "today"
    assert diagnose({"wbc": 2.0}, today=dt.datetime(2025, 3, 1, 9)).as_of == "2025-03-01"


def test_a_fitted_lr_is_shown_with_its_authored_value() -> None:
    """Probe 16: 'found in about 30% ... against about 35%' beside '(LR 1.93, fitted)' read as
    a contradiction; the note shows the authored value too, when it differs."""
    base = dict(rule_id="r", statement="s", weight=0.66, facts=[], citations=[], chain=[],
                source_kind="cohort", group="research", review_status="draft")  # fmt: skip
    fitted = Evidence(**base, lr=1.93, origin="fitted", prior_lr=1.08, fitted_cases=40)
    assert lr_brief(fitted) == "LR 1.93, fitted; authored 1.08"
    same = Evidence(**base, lr=3.0, origin="fitted", prior_lr=3.0, fitted_cases=40)
    assert lr_brief(same) == "LR 3, fitted"
    assert lr_brief(Evidence(**base, lr=3.0, origin="judgement")) == "LR 3, judgement"


def test_explain_gives_a_fitted_prior_with_its_authored_probability() -> None:
    """Probe 16: 'prior log-odds -0.78 (prior probability 0.08)' read as a contradiction
    (-0.78 is 31%): a fitted prior says so and gives both."""
    patient = {
        "as_of": "2025-02-03", "age": 44, "sex": "male",
        "labs": [{"test": "wbc", "value": 2.7, "unit": "10^9/L", "date": "2025-02-03"},
                 {"test": "anc", "value": 1.2, "unit": "10^9/L", "date": "2025-02-03"}],
    }  # fmt: skip
    d = diagnose(patient)
    c = d.candidates[0]
    flat = " ".join(explain_cause(d, c.cause).split())
    authored = math.log(c.prior_probability / (1 - c.prior_probability))
    if abs(authored - c.prior) < 0.006:
        assert f"prior log-odds {c.prior:+.2f} (prior probability {c.prior_probability:g})" in flat
    else:
        assert "fitted to the published cases; the authors' prior probability" in flat
        assert f"{1 / (1 + math.exp(-c.prior)):.2g}" in flat
    assert f"Probability {percent(c.probability)}: this score against every other" in flat


def test_a_cause_with_no_supporting_evidence_leads_no_steps_and_is_not_read_to_a_patient() -> None:
    """Probe 16: a well 50-year-old with one white count of 3.6 had Duffy genotyping as the first
    step, and the patient read myelodysplastic syndrome and a congenital neutropenia."""
    lone = {
        "as_of": "2025-06-01", "age": 50, "sex": "male",
        "labs": [{"test": "wbc", "value": 3.6, "unit": "10^9/L", "date": "2025-06-01"}],
    }  # fmt: skip
    d = diagnose(lone)
    assert d.candidates and not d.candidates[0].evidence_for
    flat = " ".join(consult_note(d).split())
    assert "NEXT STEPS: no cause has supporting evidence yet; first find out: ANC" in flat
    assert "NEXT STEPS for" not in flat
    assert patient_candidates(d.candidates) == []
    patient = " ".join(patient_note(d).split())
    assert "No explanation has support yet from the information given" in patient
    assert "Possible explanations" not in patient
    assert all(c.label not in patient for c in d.candidates)


def test_a_normal_latest_count_says_there_is_nothing_to_explain() -> None:
    """Probe 16: a recovered series read only "no cause has supporting evidence"."""

    def day(v: float, anc: float, date: str) -> list[dict[str, object]]:
        return [{"test": "wbc", "value": v, "unit": "10^9/L", "date": date},
                {"test": "anc", "value": anc, "unit": "10^9/L", "date": date}]  # fmt: skip

    recovered = {"as_of": "2025-05-15", "age": 28, "sex": "male",
                 "labs": day(3.1, 0.95, "2025-04-28") + day(6.4, 3.6, "2025-05-15")}  # fmt: skip
    d = diagnose(recovered)
    assert not d.candidates
    flat = " ".join(consult_note(d).split())
    assert "DIFFERENTIAL: none: the latest white count and ANC are not low" in flat
    lymphopenic = {
        **recovered,
        "labs": day(4.6, 3.3, "2025-05-15")
        + [{"test": "alc", "value": 0.75, "unit": "10^9/L", "date": "2025-05-15"}],
    }
    assert "a low lymphocyte count alone is not ranked" in " ".join(
        consult_note(diagnose(lymphopenic)).split()
    )
