# SPDX-License-Identifier: Apache-2.0
"""Patient facts in (contract section 1): pydantic models, shorthand expansion and validation.

:func:`parse_patient` is the only way in. It accepts the long form and the flat shorthand, checks
every field against the contract (strictly: a boolean is not a number, units are never guessed),
converts labs to canonical units, and raises exactly one :class:`~engine.errors.InputError` that
names the field path, the bad value and what was expected.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from engine import units, vocab
from engine.errors import InputError


def _iso_date(value: object) -> object:
    """Accept ``YYYY-MM-DD`` strings (JSON has no date type); reject datetimes and the rest."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return value  # the strict date validator then reports it
    if isinstance(value, dt.datetime):
        return value.isoformat()  # a datetime is not a date: let validation name it
    return value


Date = Annotated[dt.date, BeforeValidator(_iso_date)]
_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)


class LabResult(BaseModel):
    """One result as given (``value`` in ``unit``)."""

    model_config = _STRICT
    test: str
    value: float | str
    unit: str | None = None
    date: Date | None = None


class Lab(BaseModel):
    """One result after validation: canonical unit and value (``test`` may be
    ``reticulocytes_pct`` for reticulocytes given in %)."""

    model_config = _STRICT
    test: str
    value: float | str
    unit: str
    date: dt.date | None
    given: str  # the value and unit as the caller wrote them, for explanations


class Medication(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1)
    start: Date | None = None
    stop: Date | None = None
    dose: str | float | None = None


class Entry(BaseModel):
    """A condition, finding or history item: a vocabulary word with optional timing.

    ``present: false`` records that the item was looked for and is absent (no splenomegaly on
    examination, no history of chemotherapy): a known negative, which rules may weigh, unlike an
    item that is simply not mentioned (unknown)."""

    model_config = _STRICT
    name: str
    since: Date | None = None
    until: Date | None = None
    present: bool = True


class PatientFacts(BaseModel):
    """Contract section 1, validated and canonical. Build it with :func:`parse_patient`."""

    model_config = _STRICT
    schema_version: int = vocab.SCHEMA_VERSION
    id: str | None = None
    as_of: Date | None = None
    age: float | None = Field(default=None, ge=0, le=120)
    sex: str | None = None
    duffy_null: bool | None = None
    ancestry: tuple[str, ...] = ()
    labs: tuple[Lab, ...] = ()
    medications: tuple[Medication, ...] = ()
    conditions: tuple[Entry, ...] = ()
    findings: tuple[Entry, ...] = ()
    history: tuple[Entry, ...] = ()
    bmi: float | None = Field(default=None, gt=0, le=150)
    wbc_trend: str | None = None
    leukopenia_duration_days: int | None = Field(default=None, ge=0)


class _RawPatient(BaseModel):
    """The input shape before semantic checks (vocabularies, units)."""

    model_config = ConfigDict(strict=True, extra="forbid")
    schema_version: int = vocab.SCHEMA_VERSION
    id: str | int | None = None
    as_of: Date | None = None
    age: float | None = Field(default=None, ge=0, le=120)
    sex: str | None = None
    duffy_null: bool | None = None
    ancestry: list[str] = []
    labs: list[LabResult] = []
    medications: list[Medication | str] = []
    conditions: list[Entry | str] = []
    findings: list[Entry | str] = []
    history: list[Entry | str] = []
    bmi: float | None = Field(default=None, gt=0, le=150)
    wbc_trend: str | None = None
    leukopenia_duration_days: int | None = Field(default=None, ge=0)


_TOP_KEYS = tuple(_RawPatient.model_fields)


def parse_patient(data: object, *, today: dt.date | None = None) -> PatientFacts:
    """Validate patient facts (long form or shorthand) into a canonical :class:`PatientFacts`.

    ``today`` is the date shorthand values are dated with when there is no ``as_of`` (contract:
    the shorthand "means the same as the long form with today's date").
    """
    if isinstance(data, PatientFacts):
        return data
    if not isinstance(data, dict):
        raise InputError(
            "(top level)",
            "patient facts must be a mapping",
            got=type(data).__name__,
            expected="a dict / YAML mapping / JSON object",
        )
    body = _expand_shorthand(_drop_case_keys(data), today or dt.date.today())
    raw = _validate_shape(body)
    return _finish(raw)


def _drop_case_keys(data: dict[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise InputError(str(key), "keys must be strings", got=key)
        if key in vocab.CASE_FILE_KEYS:
            continue
        if key not in _TOP_KEYS and key not in vocab.TESTS:
            hint = vocab.suggest(key, (*_TOP_KEYS, *vocab.TESTS)) if key else None
            raise InputError(
                key or "(empty key)",
                "unknown field",
                expected="a contract section 1 field",
                suggestion=hint,
            )
        out[key] = value
    return out


def _expand_shorthand(data: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """``{"wbc": 3.1, "anc": 0.9}`` -> long-form labs in canonical units, dated as_of/today."""
    flat = [k for k in data if k in vocab.TESTS]
    if not flat:
        return data
    out = {k: v for k, v in data.items() if k not in flat}
    when = out.get("as_of") or today.isoformat()
    out.setdefault("as_of", when)
    labs = list(out.get("labs") or [])
    for test in flat:
        value = data[test]
        entry: dict[str, Any] = {"test": test, "value": value, "date": when}
        if test in vocab.NUMERIC_TESTS:
            entry["unit"] = units.canonical_unit(test)
        labs.append(entry)
    out["labs"] = labs
    return out


def _validate_shape(body: dict[str, Any]) -> _RawPatient:
    try:
        return _RawPatient.model_validate(body)
    except ValidationError as exc:
        raise _input_error(exc, body) from None


def _input_error(exc: ValidationError, body: dict[str, Any]) -> InputError:
    err = min(exc.errors(), key=lambda e: [str(p) for p in e["loc"]])
    path = _path([p for p in err["loc"] if not _is_union_tag(p)])
    got = err.get("input")
    if isinstance(got, (dict, list)):
        got = None
    return InputError(path, err["msg"].lower().rstrip("."), got=got, expected=_expected_for(path))


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and (
        part in ("str", "float", "int") or part[:1].isupper() or part.startswith("function-")
    )


def _path(loc: list[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


_EXPECTED = {
    "age": "a number of years from 0 to 120", "bmi": "a number", "duffy_null": "true or false",
    "as_of": "a date YYYY-MM-DD", "date": "a date YYYY-MM-DD", "start": "a date YYYY-MM-DD",
    "stop": "a date YYYY-MM-DD", "since": "a date YYYY-MM-DD", "until": "a date YYYY-MM-DD",
    "value": "a number (or a word for qualitative tests)", "leukopenia_duration_days":
    "a whole number of days >= 0", "schema_version": "1",
}  # fmt: skip


def _expected_for(path: str) -> str | None:
    return _EXPECTED.get(path.rsplit(".", 1)[-1].split("[")[0])


def _finish(raw: _RawPatient) -> PatientFacts:
    if raw.schema_version != vocab.SCHEMA_VERSION:
        raise InputError(
            "schema_version",
            "unsupported schema version",
            got=raw.schema_version,
            expected=str(vocab.SCHEMA_VERSION),
        )
    _check_word("sex", raw.sex, vocab.SEXES)
    _check_word("wbc_trend", raw.wbc_trend, vocab.TRENDS)
    for i, word in enumerate(raw.ancestry):
        _check_word(f"ancestry[{i}]", word, vocab.ANCESTRIES)
    facts = PatientFacts(
        schema_version=raw.schema_version,
        id=None if raw.id is None else str(raw.id),
        as_of=raw.as_of, age=raw.age, sex=raw.sex, duffy_null=raw.duffy_null,
        ancestry=tuple(sorted(set(raw.ancestry))),
        labs=tuple(_canonical_lab(i, lab) for i, lab in enumerate(raw.labs)),
        medications=tuple(_medication(i, m) for i, m in enumerate(raw.medications)),
        conditions=_entries("conditions", raw.conditions, vocab.CONDITIONS),
        findings=_entries("findings", raw.findings, vocab.FINDINGS),
        history=_entries("history", raw.history, vocab.HISTORY),
        bmi=raw.bmi, wbc_trend=raw.wbc_trend,
        leukopenia_duration_days=raw.leukopenia_duration_days,
    )  # fmt: skip
    _check_has_count(facts)
    return facts


def _check_word(field: str, word: str | None, known: tuple[str, ...]) -> None:
    if word is not None and word not in known:
        raise InputError(
            field,
            "unknown word",
            got=word,
            expected="one of " + ", ".join(known),
            suggestion=vocab.suggest(word, known),
        )


def _canonical_lab(i: int, lab: LabResult) -> Lab:
    field = f"labs[{i}]"
    _check_word(f"{field}.test", lab.test, vocab.TESTS)
    given = f"{lab.value} {lab.unit}" if lab.unit else str(lab.value)
    if lab.test in vocab.NUMERIC_TESTS:
        if isinstance(lab.value, str):
            raise InputError(
                f"{field}.value", f"{lab.test} needs a number", got=lab.value, expected="a number"
            )
        name, value = units.to_canonical(lab.test, lab.value, lab.unit, field=field)
        unit = "%" if name == units.RETICULOCYTE_PCT else units.canonical_unit(lab.test)
        return Lab(test=name, value=value, unit=unit, date=lab.date, given=given)
    word = _qualitative(field, lab)
    return Lab(test=lab.test, value=word, unit="", date=lab.date, given=given)


def _qualitative(field: str, lab: LabResult) -> str:
    allowed = vocab.QUALITATIVE_TESTS[lab.test]
    if lab.unit:
        raise InputError(
            f"{field}.unit",
            f"{lab.test} is qualitative and takes no unit",
            got=lab.unit,
            expected="no unit",
        )
    if not isinstance(lab.value, str):
        raise InputError(
            f"{field}.value",
            f"{lab.test} needs a word",
            got=lab.value,
            expected="one of " + ", ".join(allowed),
        )
    text = lab.value.strip().lower()
    if lab.test == "ana" and _is_titer(text):
        return text
    if text in allowed or lab.test in ("tpmt_genotype", "nudt15_genotype") and text.startswith("*"):
        return text
    raise InputError(
        f"{field}.value",
        f"unknown result for {lab.test}",
        got=lab.value,
        expected="one of "
        + ", ".join(allowed)
        + (" or a titer '1:N'" if lab.test == "ana" else ""),
        suggestion=vocab.suggest(text, allowed),
    )


def _is_titer(text: str) -> bool:
    left, sep, right = text.partition(":")
    return sep == ":" and left == "1" and right.isdigit() and int(right) > 0


def _medication(i: int, med: Medication | str) -> Medication:
    if isinstance(med, str):
        if not med.strip():
            raise InputError(f"medications[{i}]", "empty drug name", expected="a drug name")
        return Medication(name=med.strip())
    if med.start and med.stop and med.stop < med.start:
        raise InputError(
            f"medications[{i}].stop",
            "stop is before start",
            got=med.stop.isoformat(),
            expected=f"a date on or after {med.start.isoformat()}",
        )
    return med


def _entries(field: str, items: list[Entry | str], known: tuple[str, ...]) -> tuple[Entry, ...]:
    out = []
    for i, item in enumerate(items):
        entry = Entry(name=item) if isinstance(item, str) else item
        _check_word(f"{field}[{i}]" + ("" if isinstance(item, str) else ".name"), entry.name, known)
        if entry.since and entry.until and entry.until < entry.since:
            raise InputError(
                f"{field}[{i}].until",
                "until is before since",
                got=entry.until.isoformat(),
                expected="a date on or after since",
            )
        out.append(entry)
    both = {e.name for e in out if e.present} & {e.name for e in out if not e.present}
    if both:
        name = min(both)
        raise InputError(
            field,
            f"{name} is recorded both present and absent",
            got=name,
            expected="one entry per item: present, or {name, present: false}",
        )
    return tuple(
        sorted(
            out,
            key=lambda e: (e.name, not e.present, e.since or dt.date.min, e.until or dt.date.max),
        )
    )


def _check_has_count(facts: PatientFacts) -> None:
    tests = {lab.test for lab in facts.labs}
    if tests & {"wbc", "anc"} or ("neutrophil_pct" in tests and "wbc" in tests):
        return
    if facts.wbc_trend is not None and facts.leukopenia_duration_days is not None:
        return
    raise InputError(
        "labs",
        "at least one WBC or ANC value is required",
        expected="a lab with test 'wbc' or 'anc', or wbc_trend plus leukopenia_duration_days",
    )
