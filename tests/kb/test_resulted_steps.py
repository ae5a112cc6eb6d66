# SPDX-License-Identifier: Apache-2.0
"""Next steps and the results the record already holds (session 20).

A next step may name the lab tests whose results complete it (``tests:`` in a cause file). The
explanation puts the patient's results beside such a step, and a step whose every test is
resulted comes after the steps still to do: the note's first steps for myelodysplasia asked to
"exclude reversible mimics: vitamin B12, folate and copper" beside a B12 of 384 and a folate of
3.9 already in the record, and a megaloblastic patient was told to order the B12 and folate
that had made the diagnosis likely."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from engine import diagnose
from engine.differential import Candidate, Differential
from engine.errors import KnowledgeBaseError
from engine.kb.load import KnowledgeBase, load_knowledge_base
from engine.render import consult_note, full_note
from tests.conftest import RULE_TEST_BACKENDS
from tests.kb.patient_data import lab as _l

TODAY = dt.date(2025, 6, 30)
B12_STEP = "Serum vitamin B12 and folate."


def _macrocytic(**extra_labs: tuple[float, str]) -> dict[str, Any]:
    """Pancytopenia with macrocytosis and glossitis: megaloblastic anaemia ranks high."""
    labs = [
        _l("wbc", 2.6, "10^9/L", "2025-06-20"), _l("anc", 1.1, "10^9/L", "2025-06-20"),
        _l("hemoglobin", 8.1, "g/dL", "2025-06-20"), _l("platelets", 96, "10^9/L", "2025-06-20"),
        _l("mcv", 118, "fL", "2025-06-20"),
    ]  # fmt: skip
    labs += [_l(test, value, unit, "2025-06-21") for test, (value, unit) in extra_labs.items()]
    return {
        "id": "macro", "as_of": "2025-06-22", "age": 67, "sex": "female", "labs": labs,
        "findings": ["glossitis", "neuropathy"],
    }  # fmt: skip


def _megaloblastic(d: Differential) -> Candidate:
    found = d.candidate("megaloblastic")
    assert found is not None, [c.cause for c in d.candidates]
    return found


def _texts(c: Candidate) -> list[str]:
    return [s.text for s in c.next_steps]


@pytest.mark.parametrize("backend", RULE_TEST_BACKENDS)
def test_a_step_whose_tests_are_all_resulted_shows_them_and_comes_last(backend: str) -> None:
    before = _megaloblastic(diagnose(_macrocytic(), backend=backend, today=TODAY))
    assert all(not s.resulted for s in before.next_steps)
    assert _texts(before).index(B12_STEP) < len(before.next_steps) - 1

    after = _megaloblastic(
        diagnose(
            _macrocytic(vitamin_b12=(95, "pg/mL"), folate=(8.2, "ng/mL")),
            backend=backend,
            today=TODAY,
        )
    )
    step = next(s for s in after.next_steps if s.text == B12_STEP)
    assert [(r.id, r.value) for r in step.resulted] == [
        ("v:vitamin_b12", 95.0),
        ("v:folate", 8.2),
    ]
    assert _texts(after)[-1] == B12_STEP  # after every step still to do
    assert sorted(_texts(after)) == sorted(_texts(before))  # nothing dropped, nothing added


@pytest.mark.parametrize("backend", RULE_TEST_BACKENDS)
def test_a_step_half_resulted_stays_in_place_with_what_is_known(backend: str) -> None:
    plain = _megaloblastic(diagnose(_macrocytic(), backend=backend, today=TODAY))
    half = _megaloblastic(
        diagnose(_macrocytic(folate=(8.2, "ng/mL")), backend=backend, today=TODAY)
    )
    step = next(s for s in half.next_steps if s.text == B12_STEP)
    assert [r.id for r in step.resulted] == ["v:folate"]
    assert _texts(half).index(B12_STEP) == _texts(plain).index(B12_STEP)


def test_the_notes_and_the_json_carry_the_results() -> None:
    d = diagnose(_macrocytic(vitamin_b12=(95, "pg/mL"), folate=(8.2, "ng/mL")), today=TODAY)
    assert "(resulted: vitamin B12 95 pg/mL on 2025-06-21; folate 8.2 ng/mL on 2025-06-21)" in (
        " ".join(full_note(d).split())
    )
    again = Differential.model_validate_json(d.to_json())
    assert again == d
    assert again.to_json() == d.to_json()
    # the short note lists the steps still to do first; the resulted one is past its room
    short = " ".join(consult_note(d).split())
    assert f"- {B12_STEP} (resulted" not in short.split("NEXT STEPS")[1].split(" - ")[1]


def test_bundled_steps_name_known_tests_and_show_only_recorded_results(
    real_kb: KnowledgeBase,
) -> None:
    """Every next step of the bundled knowledge base that names tests names known lab tests,
    and on a patient with no ancillary result no step carries a result."""
    named = [s for c in real_kb.causes.values() for s in c.next_steps if s.tests]
    assert len(named) >= 20
    assert all(not s.tests for c in real_kb.causes.values() for s in c.considerations)
    d = diagnose(_macrocytic(), kb=real_kb, today=TODAY)
    shown = {r.id for c in d.candidates for s in c.next_steps for r in s.resulted}
    assert shown == {"v:mcv"}


def _with_step(kb_dir: Path, step: str, where: str = "next_steps") -> None:
    path = kb_dir / "causes" / "clozapine_induced.yaml"
    text = path.read_text()
    assert f"  {where}:\n" in text, where
    path.write_text(text.replace(f"  {where}:\n", f"  {where}:\n{step}", 1))


def _errors(kb_dir: Path) -> list[str]:
    with pytest.raises(KnowledgeBaseError) as info:
        load_knowledge_base(kb_dir)
    return [str(p) for p in info.value.problems]


def test_a_step_naming_an_unknown_test_is_refused_at_its_line(kb_dir: Path) -> None:
    _with_step(kb_dir, '    - {text: "B12", cite: [ctcae5], tests: [vitamin_b21, folate]}\n')
    got = "\n".join(_errors(kb_dir))
    assert "cause.next_steps[0].tests: unknown lab test 'vitamin_b21' (did you mean " in got
    assert "'vitamin_b12'?)" in got


def test_a_consideration_names_no_tests(kb_dir: Path) -> None:
    _with_step(kb_dir, '    - {text: "Stop it.", cite: [ctcae5], tests: [wbc]}\n', "considerations")
    got = "\n".join(_errors(kb_dir))
    assert "cause.considerations[0].tests: only next steps name the tests that complete them" in got


def test_a_test_listed_twice_or_none_is_refused(kb_dir: Path) -> None:
    _with_step(kb_dir, '    - {text: "x", cite: [ctcae5], tests: [folate, folate]}\n')
    assert any("tests: a test is listed twice" in e for e in _errors(kb_dir))
