# SPDX-License-Identifier: Apache-2.0
"""Publication groups and folds: cases of one publication always share a fold, folds are
deterministic, and real case files give their fired evidence rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from engine.calibrate.features import (
    Case,
    assign_folds,
    group_cases,
    identifiers,
    load_cases,
)
from engine.errors import InputError
from engine.kb.load import load_knowledge_base
from tests.conftest import CASES


def case(source: str, n: int = 0) -> Case:
    return Case(id=f"c{n}", file=f"c{n}.yaml", source=source, expected=("sle",), fired=())


def test_identifiers_are_normalised() -> None:
    found = identifiers(
        "Smith J. Blood 2020. doi:10.1182/Blood.2020.123. PMID: 12345678; PMC7654321 "
        "https://www.Example.org/articles/x/?utm=1#top (seen)"
    )
    assert found == {
        "doi:10.1182/blood.2020.123",
        "pmid:12345678",
        "pmc:PMC7654321",
        "url:example.org/articles/x",
    }
    assert "pmid:999" in identifiers("https://pubmed.ncbi.nlm.nih.gov/999/")
    assert "doi:10.1016/s0140-6736(05)1" in identifiers("(doi 10.1016/S0140-6736(05)1)")


def test_cases_sharing_any_identifier_are_one_group() -> None:
    cases = [
        case("doi:10.1234/abc", 0),
        case("PMID 42, https://x.org/a/", 1),
        case("https://doi.org/10.1234/ABC", 2),  # same DOI as case 0 (case and URL form differ)
        case("https://x.org/a?page=2", 3),  # same URL as case 1
        case("no identifier at all", 4),
        case("no identifier at all", 5),  # text alone never groups
        case("PMID: 42", 6),  # joins case 1, hence case 3
    ]
    groups = group_cases(cases)
    assert groups[0] == groups[2]
    assert groups[1] == groups[3] == groups[6]
    assert len({groups[0], groups[1], groups[4], groups[5]}) == 4


def test_groups_stay_in_one_fold_and_folds_are_deterministic() -> None:
    cases = [case(f"PMID {i // 3}", i) for i in range(30)] + [case("", 30 + i) for i in range(7)]
    groups = group_cases(cases)
    folds = assign_folds(groups, 5, seed=0)
    assert folds == assign_folds(groups, 5, seed=0)
    for g in set(groups):
        assert len({f for f, x in zip(folds, groups, strict=True) if x == g}) == 1
    sizes = [folds.count(f) for f in range(5)]
    assert max(sizes) - min(sizes) <= 3
    assert {assign_folds(groups, 5, seed=s).__repr__() for s in range(4)}.__len__() > 1


def test_too_many_folds_is_an_input_error() -> None:
    with pytest.raises(InputError):
        assign_folds([0, 0, 1], 3, seed=0)
    with pytest.raises(InputError):
        assign_folds([0, 1, 2], 1, seed=0)


def test_real_cases_give_fired_evidence_rules_and_skip_broken_files(tmp_path: Path) -> None:
    kb = load_knowledge_base(None)
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: broken\nlabs: [\n")
    no_expected = tmp_path / "plain.yaml"
    no_expected.write_text("wbc: 2.1\nanc: 0.4\n")
    files = [str(p) for p in sorted(CASES.glob("*.yaml"))[:3]]
    cases, skipped = load_cases([*files, str(tmp_path)], kb, "experta", today=dt.date(2026, 1, 1))
    assert len(cases) == 3 and all(c.fired and c.expected for c in cases)
    assert sorted(Path(s.file).name for s in skipped) == ["broken.yaml", "plain.yaml"]
    assert all(s.message for s in skipped)
