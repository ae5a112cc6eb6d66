# SPDX-License-Identifier: Apache-2.0
"""SNOMED CT descendants of the mapped conditions (engine/fhir/snomed.py,
rules/terminology/snomed_descendants.yaml): a child code counts as its parent's word, and the
table is refused when a code is mistyped or given to two words."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from engine.api import diagnose
from engine.errors import KnowledgeBaseError
from engine.fhir.convert import from_fhir
from engine.fhir.snomed import DESCENDANTS_FILE, concept_id_problem, verhoeff_ok
from engine.fhir.terms import Concept, load_terminology
from engine.kb.yamlio import load_yaml

ROOT = Path(__file__).resolve().parents[2]
TERMINOLOGY = ROOT / "rules" / "terminology"
TABLE = TERMINOLOGY / DESCENDANTS_FILE
SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def _bundle(*conditions: str) -> dict[str, Any]:
    """A 40-year-old with a low count and one Condition per SNOMED CT code."""
    resources: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1985-03-01"},
    ]
    for oid, loinc, value in (("wbc", "6690-2", 2.4), ("anc", "751-8", 0.9)):
        resources.append({
            "resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": LOINC, "code": loinc}]},
            "effectiveDateTime": "2025-01-10",
            "valueQuantity": {"value": value, "system": UCUM, "code": "10*9/L"},
        })  # fmt: skip
    for i, code in enumerate(conditions):
        resources.append({
            "resourceType": "Condition", "id": f"c{i}",
            "code": {"coding": [{"system": SCT, "code": code}]},
        })  # fmt: skip
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


def _table_rows() -> list[tuple[str, str, str]]:
    """(code, word, display) of every row of the bundled table, read without the loader."""
    doc = load_yaml(TABLE)
    return [
        (str(row["code"]), str(word), str(row["display"]))
        for word, entry in doc["words"].items()
        for block in entry["lists"]
        for row in block["codes"]
    ]


def _copy(tmp_path: Path, edit: tuple[str, str] | None = None) -> Path:
    """fhir.yaml and the table copied to ``tmp_path``, the table edited once; the fhir.yaml path."""
    shutil.copy(TERMINOLOGY / "fhir.yaml", tmp_path / "fhir.yaml")
    text = TABLE.read_text(encoding="utf-8")
    if edit is not None:
        assert edit[0] in text
        text = text.replace(edit[0], edit[1], 1)
    (tmp_path / DESCENDANTS_FILE).write_text(text, encoding="utf-8")
    return tmp_path / "fhir.yaml"


def test_a_child_code_converts_to_the_parents_word() -> None:
    # 36402006 "SLE glomerulonephritis syndrome, WHO class IV" (VSAC Lupus), 57160007 "Felty's
    # syndrome" and 593481000000109 (UK Edition "SLE NOS", NHS SLUPUS_COD).
    facts = from_fhir(_bundle("36402006", "57160007")).facts
    assert sorted(facts["conditions"]) == ["rheumatoid_arthritis", "sle"]
    terms = load_terminology()
    assert terms.concept("snomed", "593481000000109") == Concept("condition", "sle")
    assert terms.concept("snomed", " 413847001 ") == Concept("condition", "cml")  # chronic phase


def test_a_child_code_changes_the_differential_as_its_parent_does() -> None:
    without = diagnose(_bundle())
    parent = diagnose(_bundle("55464009"))
    child = diagnose(_bundle("36402006"))
    ranked = [(c.cause, c.score) for c in child.candidates]
    assert ranked == [(c.cause, c.score) for c in parent.candidates]
    sle_with = child.candidate("sle")
    sle_without = without.candidate("sle")
    assert sle_with is not None and sle_without is not None
    assert sle_with.score > sle_without.score


def test_excluded_look_alikes_stay_unmapped() -> None:
    terms = load_terminology()
    # drug-induced lupus is a drug cause, not SLE; juvenile (Still's) arthritis is not RA;
    # T-cell "CLL" is a T-prolymphocytic leukaemia; history of HIV is no current infection
    for code in ("80258006", "201436003", "287984007", "277545003", "432218001"):
        assert terms.concept("snomed", code) is None, code
    ignored = {i.resource: i.reason for i in from_fhir(_bundle("80258006")).ignored}
    assert ignored["Condition/c0"].startswith("no code leukodx uses")


def test_every_code_of_the_table_is_a_valid_concept_id() -> None:
    rows = _table_rows()
    assert len(rows) > 400
    bad = [(code, display) for code, _, display in rows if concept_id_problem(code) is not None]
    assert bad == []
    assert len({code for code, _, _ in rows}) == len(rows)
    terms = load_terminology()
    assert all(terms.concept("snomed", code) is not None for code, _, _ in rows)


def test_the_verhoeff_check_rejects_a_mistyped_code() -> None:
    assert verhoeff_ok("55464009") and verhoeff_ok("593481000000109")
    assert not verhoeff_ok("55464008")  # last digit changed
    assert not verhoeff_ok("55460409")  # two digits swapped
    problem = concept_id_problem("36402007")
    assert problem is not None and "check digit" in problem
    # a valid check digit on a description-id partition (01) is still no concept id
    description = next(f"5546401{d}" for d in "0123456789" if verhoeff_ok(f"5546401{d}"))
    assert "partition 01" in (concept_id_problem(description) or "")
    assert "not a SNOMED CT id" in (concept_id_problem("0123456") or "")
    assert "not a SNOMED CT id" in (concept_id_problem("12345") or "")


def test_a_mistyped_code_in_the_table_is_refused(tmp_path: Path) -> None:
    path = _copy(tmp_path, ('{code: "36402006"', '{code: "36402007"'))
    with pytest.raises(KnowledgeBaseError) as err:
        load_terminology(path)
    message = str(err.value)
    assert DESCENDANTS_FILE in message
    assert (
        "words.sle.lists[0].codes[" in message
        and "36402007 fails the SNOMED CT check digit" in message
    )


def test_a_code_given_to_two_words_is_refused(tmp_path: Path) -> None:
    # 57160007 Felty's syndrome (rheumatoid_arthritis) listed under sle as well
    path = _copy(
        tmp_path,
        ('      - source: vsac-lupus\n        codes:\n',
         '      - source: vsac-lupus\n        codes:\n'
         '          - {code: "57160007", display: "Felty\'s syndrome"}\n'),
    )  # fmt: skip
    with pytest.raises(
        KnowledgeBaseError, match="mapped to two words \\('sle' and 'rheumatoid_arthritis'\\)"
    ):
        load_terminology(path)


def test_an_unknown_word_source_or_parent_is_refused(tmp_path: Path) -> None:
    cases = [
        (("  cml:\n    kind: condition", "  cmml:\n    kind: condition"),
         "words.cmml: unknown word 'cmml'"),
        (("      - source: nhs-rarth", "      - source: nhs-nowhere"),
         "unknown source 'nhs-nowhere'"),
        (('parent: {code: "92818009"', 'parent: {code: "92814006"'),
         "words.cml.parent: SNOMED CT 92814006 is not mapped to 'cml' in fhir.yaml"),
        (('{code: "36402006"', '{code: "19943007"'), "SNOMED CT 19943007 is already in fhir.yaml"),
    ]  # fmt: skip
    for i, (edit, expected) in enumerate(cases):
        folder = tmp_path / str(i)
        folder.mkdir()
        with pytest.raises(
            KnowledgeBaseError, match=expected.replace("(", "\\(").replace(")", "\\)")
        ):
            load_terminology(_copy(folder, edit))


def test_an_edited_table_is_picked_up_without_a_restart(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    assert load_terminology(path).concept("snomed", "36402006") == Concept("condition", "sle")
    table = tmp_path / DESCENDANTS_FILE
    text = table.read_text(encoding="utf-8")
    table.write_text(text.replace('{code: "36402006"', '{code: "36402"', 1), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="'36402' is not a SNOMED CT id"):
        load_terminology(path)
    table.unlink()  # no table: only fhir.yaml's own codes
    assert load_terminology(path).concept("snomed", "36402006") is None
    assert load_terminology(path).concept("snomed", "55464009") == Concept("condition", "sle")
