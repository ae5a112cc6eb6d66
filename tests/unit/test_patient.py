# SPDX-License-Identifier: Apache-2.0
"""engine/patient.py: contract section 1, strict validation and the exact error shapes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from engine.errors import InputError
from engine.patient import parse_patient

TODAY = dt.date(2025, 3, 1)


def error_of(data: Any) -> str:
    with pytest.raises(InputError) as err:
        parse_patient(data, today=TODAY)
    return str(err.value)


def test_shorthand_means_long_form_today() -> None:
    short = parse_patient(
        {
            "wbc": 3.1,
            "anc": 0.9,
            "medications": ["clozapine"],
            "conditions": ["cll"],
            "findings": ["splenomegaly"],
        },
        today=TODAY,
    )
    long = parse_patient(
        {
            "as_of": "2025-03-01",
            "labs": [
                {"test": "wbc", "value": 3.1, "unit": "10^9/L", "date": "2025-03-01"},
                {"test": "anc", "value": 0.9, "unit": "10^9/L", "date": "2025-03-01"},
            ],
            "medications": [{"name": "clozapine"}],
            "conditions": [{"name": "cll"}],
            "findings": ["splenomegaly"],
        },
        today=TODAY,
    )
    assert short.model_dump(exclude={"labs"}) == long.model_dump(exclude={"labs"})
    assert [(x.test, x.value, x.date) for x in short.labs] == [
        (x.test, x.value, x.date) for x in long.labs
    ]


def test_case_file_keys_are_ignored() -> None:
    p = parse_patient(
        {"wbc": 3.0, "expected": ["x"], "acceptable": [], "source": "s", "notes": "n"}, today=TODAY
    )
    assert p.labs[0].value == 3.0


def test_misspelt_top_level_key() -> None:
    assert error_of({"wbc": 3, "medicatons": []}) == (
        "medicatons: unknown field (expected a contract section 1 field); "
        "did you mean 'medications'?"
    )


def test_shorthand_errors_name_the_field_as_written() -> None:
    """The shorthand becomes labs, but an error names what the caller wrote, not labs[0]."""
    assert error_of({"anc": "0.4", "wbc": 2.1}).startswith("anc: anc needs a number")
    assert error_of({"anc": {"value": 0.4, "unit": "furlongs"}}).startswith("anc.unit: ")
    given = {"wbc": 2.0, "labs": [{"test": "anc", "value": "x", "unit": "10^9/L",
                                   "date": "2025-01-01"}]}  # fmt: skip
    assert error_of(given).startswith("labs[0].value: ")  # a lab written as a lab stays one


def test_a_one_letter_sex_is_refused_with_the_word_suggested() -> None:
    assert error_of({"wbc": 2.0, "sex": "F"}).endswith("did you mean 'female'?")
    assert error_of({"wbc": 2.0, "sex": "M"}).endswith("did you mean 'male'?")


def test_an_id_that_is_not_text_is_refused_as_text() -> None:
    """``id`` is free text (a whole number is read as text): a list was refused with "input
    should be a valid integer"."""
    expected = "expected free text such as 'MRN-0042', or a whole number read as text)"
    assert error_of({"wbc": 2.1, "id": ["x"]}) == f"id: input should be text ({expected}"
    assert error_of({"wbc": 2.1, "id": 1.5}) == f"id: input should be text (got 1.5; {expected}"
    assert parse_patient({"wbc": 2.1, "id": 42}, today=TODAY).id == "42"


def test_boolean_is_not_a_number() -> None:
    assert error_of({"wbc": True}).startswith("wbc: input should be a valid number (got True;")
    assert error_of({"wbc": 3, "age": True}).startswith("age: input should be a valid number")


def test_unknown_vocabulary_word_with_suggestion() -> None:
    msg = error_of({"wbc": 3, "conditions": ["clll"]})
    assert msg.startswith("conditions[0]: unknown word (got 'clll'; expected one of cll, cml,")
    assert msg.endswith("did you mean 'cll'?")
    assert error_of({"wbc": 3, "findings": [{"name": "fevr"}]}).startswith(
        "findings[0].name: unknown word (got 'fevr';"
    )
    assert error_of({"wbc": 3, "sex": "femal"}).endswith("did you mean 'female'?")


def test_test_ids_and_words_in_another_case_are_the_same_words() -> None:
    """``WBC``, ``Anc`` and ``Fever`` are the contract's words in capitals: the same words, read
    (a table of upper-case test names failed every patient); a different word is still refused."""
    facts = parse_patient(
        {"labs": [{"test": "WBC", "value": 1.1, "unit": "10^9/L", "date": "2025-02-10"},
                  {"test": " Anc ", "value": 0.3, "unit": "10^9/L", "date": "2025-02-10"}],
         "findings": ["Fever"], "conditions": [{"name": "CLL"}]},
        today=dt.date(2025, 2, 10),
    )  # fmt: skip
    assert sorted(lab.test for lab in facts.labs) == ["anc", "wbc"]
    assert [e.name for e in facts.findings] == ["fever"] and facts.conditions[0].name == "cll"
    assert error_of({"labs": [{"test": "WBCs", "value": 1, "unit": "10^9/L"}]}).startswith(
        "labs[0].test: unknown word (got 'WBCs';"
    )


def test_a_timestamp_is_the_date_written_in_it() -> None:
    """A database row's datetime, or ISO text with a time, is the date written in it, as the
    table and FHIR readers read it; a broken timestamp is still refused."""
    when = dt.datetime(2025, 2, 10, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    facts = parse_patient(
        {"labs": [{"test": "wbc", "value": 1.1, "unit": "10^9/L", "date": when},
                  {"test": "anc", "value": 0.3, "unit": "10^9/L", "date": "2025-02-10T08:30:00Z"}]},
        today=dt.date(2025, 2, 11),
    )  # fmt: skip
    assert {lab.date for lab in facts.labs} == {dt.date(2025, 2, 10)}
    assert "labs[0].date" in error_of(
        {"labs": [{"test": "wbc", "value": 1.1, "unit": "10^9/L", "date": "2025-02-10T25:00"}]}
    )


def test_unknown_test_name() -> None:
    msg = error_of({"labs": [{"test": "anc_count", "value": 1, "unit": "10^9/L"}]})
    assert msg.startswith("labs[0].test: unknown word (got 'anc_count';")
    assert msg.endswith("did you mean 'anc'?")


def test_bad_dates() -> None:
    assert error_of({"wbc": 3, "as_of": "2025-02-30"}).startswith(
        "as_of: input should be a valid date"
    )
    assert error_of(
        {"labs": [{"test": "wbc", "value": 3, "unit": "K/uL", "date": "yesterday"}]}
    ).startswith("labs[0].date:")
    assert "stop is before start" in error_of(
        {"wbc": 3, "medications": [{"name": "x", "start": "2025-02-01", "stop": "2025-01-01"}]}
    )


def test_requires_a_count() -> None:
    assert error_of({"age": 40}).startswith("labs: at least one WBC or ANC value is required")
    ok = parse_patient({"wbc_trend": "falling", "leukopenia_duration_days": 120}, today=TODAY)
    assert ok.wbc_trend == "falling"


def test_qualitative_results() -> None:
    p = parse_patient(
        {
            "wbc": 3,
            "labs": [{"test": "ana", "value": "1:640"}, {"test": "hiv", "value": "Negative"}],
        },
        today=TODAY,
    )
    assert {(x.test, x.value) for x in p.labs} >= {("ana", "1:640"), ("hiv", "negative")}
    # an ancillary result that cannot be read is set aside with what was wrong (vocab.py)
    assert "needs a word" in aside_of({"wbc": 3, "labs": [{"test": "hiv", "value": 1}]})
    assert "takes no unit" in aside_of(
        {"wbc": 3, "labs": [{"test": "hiv", "value": "positive", "unit": "%"}]}
    )
    msg = aside_of({"wbc": 3, "labs": [{"test": "hiv", "value": "postive"}]})
    assert "did you mean 'positive'?" in msg
    # a test an alert reads is still an error of the whole patient
    msg = error_of({"wbc": 3, "labs": [{"test": "tpmt_activity", "value": "lowish"}]})
    assert msg.startswith("labs[0].value: ")


def aside_of(data: dict[str, Any]) -> str:
    """The reasons of the results set aside (there must be some)."""
    p = parse_patient(data, today=TODAY)
    assert p.set_aside, data
    return " | ".join(reason for _, reason in p.set_aside)


def test_numeric_test_needs_number() -> None:
    assert error_of({"labs": [{"test": "wbc", "value": "low", "unit": "K/uL"}]}).startswith(
        "labs[0].value: wbc needs a number (got 'low'; expected a number)"
    )


def test_extra_keys_in_nested_items() -> None:
    assert error_of({"wbc": 3, "medications": [{"nam": "x"}]}).startswith(
        "medications[0].nam: extra inputs are not permitted"
    )


def test_not_a_mapping() -> None:
    assert error_of([1, 2]).startswith("(top level): patient facts must be a mapping")


def test_order_of_entries_is_canonical() -> None:
    a = parse_patient(
        {"wbc": 3, "conditions": ["sle", "cll"], "ancestry": ["arab", "african"]}, today=TODAY
    )
    b = parse_patient(
        {"wbc": 3, "conditions": ["cll", "sle"], "ancestry": ["african", "arab"]}, today=TODAY
    )
    assert a == b


def test_a_bad_backend_or_knowledge_base_argument_is_an_input_error() -> None:
    """Like a bad audience: an unknown backend raised a bare LeukodxError and kb=42 a TypeError."""
    from engine.api import diagnose

    with pytest.raises(InputError, match="^backend: unknown backend"):
        diagnose({"wbc": 2.0}, backend="nope")
    with pytest.raises(InputError, match="^kb: not a knowledge base"):
        diagnose({"wbc": 2.0}, kb=42)  # type: ignore[arg-type]


def test_inputs_the_caller_set_aside_are_carried_into_the_output() -> None:
    from engine.api import diagnose

    data = {"wbc": 2.0, "ignored_inputs": [{"item": "row 7 (rdw)", "reason": "not read"}]}
    d = diagnose(data)
    assert [(i.item, i.reason) for i in d.ignored_inputs] == [("row 7 (rdw)", "not read")]
    with pytest.raises(InputError, match=r"^ignored_inputs\[0\]: not an \{item, reason\} entry"):
        diagnose({"wbc": 2.0, "ignored_inputs": [{"item": "x"}]})


def test_an_item_s_source_is_shown_where_it_is_explained_and_nothing_else() -> None:
    """``source`` (where a finding came from: the FHIR reader writes the body temperatures a
    fever rests on) reaches the explanation and changes no alert or rank."""
    from engine.api import diagnose

    labs = [{"test": "wbc", "value": 1.0, "unit": "10^9/L", "date": "2025-03-01"},
            {"test": "anc", "value": 0.3, "unit": "10^9/L", "date": "2025-03-01"}]  # fmt: skip
    plain = {"labs": labs, "findings": [{"name": "fever", "since": "2025-03-01"}]}
    told = {"labs": labs, "findings": [{"name": "fever", "since": "2025-03-01",
                                        "source": "temperature 39.1 Cel at triage"}]}  # fmt: skip
    a, b = diagnose(plain), diagnose(told)
    assert [x.id for x in a.alerts] == [x.id for x in b.alerts]
    assert [(c.cause, c.score) for c in a.candidates] == [(c.cause, c.score) for c in b.candidates]
    hows = {f.id: f.how for f in b.facts}
    assert hows["m:finding:fever"].endswith("; temperature 39.1 Cel at triage")
    assert "From: given: finding fever" in hows["d:context.fever_present"]
    assert "39.1 Cel" in hows["d:context.fever_present"]
    for bad, says in (("", "at least 1 character"), ("x" * 501, "at most 500"), (5, "string")):
        with pytest.raises(InputError) as err:
            parse_patient({"wbc": 1.0, "findings": [{"name": "fever", "source": bad}]})
        assert err.value.field == "findings[0].source" and says in str(err.value)


def test_sex_trend_and_ancestry_in_another_case_are_the_same_words() -> None:
    """The fifth probe: ``sex: Female`` failed the patient (every export writes it so), while
    ``Fever`` and ``WBC`` were read; ``F`` stays a suggestion, never a guess."""
    facts = parse_patient({"wbc": 2.0, "sex": "Female", "wbc_trend": " Falling ",
                           "leukopenia_duration_days": 30})  # fmt: skip
    assert facts.sex == "female" and facts.wbc_trend == "falling"
    assert parse_patient({"wbc": 2.0, "sex": "MALE"}).sex == "male"
    assert error_of({"wbc": 2.0, "sex": "F"}).endswith("did you mean 'female'?")
