# SPDX-License-Identifier: Apache-2.0
"""Patient facts in (contract section 1): pydantic models, shorthand expansion and validation.

:func:`parse_patient` is the only way in. It accepts the long form and the flat shorthand, checks
every field against the contract (strictly: a boolean is not a number, units are never guessed),
converts labs to canonical units, and raises exactly one :class:`~engine.errors.InputError` that
names the field path, the bad value and what was expected.

Nothing critical is guessed or lost silently: a long-form lab needs its date (only the flat
shorthand is dated ``as_of``/today, as the contract says), a shorthand count needs a unit unless
its magnitude is unambiguous (:data:`engine.units.SHORTHAND_MAX`), an ANC or ALC above the WBC of
its day is refused, and dates (1900-2200), durations (100 years), numbers, nesting and text are
bounded, so that hostile input is an InputError and never an OverflowError or RecursionError.

A numeric result may be a bound (``comparator``: ``<``, ``<=``, ``>=``, ``>``; FHIR
``valueQuantity.comparator``): it is kept as one, compared through
:func:`engine.units.bound_value` and shown as given (``<0.1 10^9/L``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from engine import instants, units, vocab
from engine.errors import InputError
from engine.kb.yamlio import check_tree


def _iso_date(value: object) -> object:
    """Accept ``YYYY-MM-DD`` strings (JSON has no date type), and a timestamp (a ``datetime``, a
    pandas ``Timestamp``, or ISO text with a time) as the date written in it, as the table and
    FHIR readers do (days are the engine's resolution; no time-zone shift): a database row's
    timestamp was an input error for the library alone. Anything else is left for the strict
    validator to refuse."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        text = value.strip()
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
        try:
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()
        except ValueError:
            return value  # the strict date validator then reports it
    return value


#: Dates outside these bounds are input errors: date arithmetic near year 1 or 9999 overflows, and
#: no clinical record is dated before 1900 or after 2200.
FIRST_DATE, LAST_DATE = dt.date(1900, 1, 1), dt.date(2200, 12, 31)
#: The longest duration accepted (``leukopenia_duration_days``): 100 years.
MAX_DURATION_DAYS = 36525
_DATE_RANGE = f"a date YYYY-MM-DD from {FIRST_DATE} to {LAST_DATE}"


def _in_range(value: dt.date) -> dt.date:
    if not FIRST_DATE <= value <= LAST_DATE:
        raise PydanticCustomError("date_range", "date out of range")
    return value


Date = Annotated[dt.date, BeforeValidator(_iso_date), AfterValidator(_in_range)]
Duration = Annotated[int | None, Field(default=None, ge=0, le=MAX_DURATION_DAYS)]
_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)


class LabResult(BaseModel):
    """One result as given (``value`` in ``unit``)."""

    model_config = _STRICT
    test: str
    value: float | str
    unit: str | None = None
    date: Date | None = None
    comparator: str | None = None  # "<", "<=", ">=", ">": the value is a bound


class Lab(BaseModel):
    """One result after validation: canonical unit and value (``test`` may be
    ``reticulocytes_pct`` for reticulocytes given in %). For a bound, ``value`` is the value
    compared with thresholds (:func:`engine.units.bound_value`) and ``comparator`` is kept."""

    model_config = _STRICT
    test: str
    value: float | str
    unit: str
    date: dt.date | None
    given: str  # the value and unit as the caller wrote them, for explanations
    comparator: str | None = None


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
    item that is simply not mentioned (unknown).

    ``source`` says where the item came from (the FHIR reader writes the body temperatures a
    fever rests on): it is shown wherever the item is explained and never read by a rule."""

    model_config = _STRICT
    name: str
    since: Date | None = None
    until: Date | None = None
    present: bool = True
    source: str | None = Field(default=None, min_length=1, max_length=500)


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
    leukopenia_duration_days: Duration = None
    #: (item, reason) of each result of an ancillary test (``vocab.ANCILLARY_TESTS``) that could
    #: not be read and was set aside; the differential lists them in ``ignored_inputs``.
    set_aside: tuple[tuple[str, str], ...] = ()


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
    leukopenia_duration_days: Duration = None


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
    check_tree(data)  # the reader's limits, for values handed in directly
    body = _expand_shorthand(_drop_case_keys(data), today or dt.date.today())
    screened, positions, set_aside = _screen_ancillary_labs(body)
    try:  # the screened labs are numbered as kept: errors name them as given
        raw = _validate_shape(screened)
    except InputError as exc:
        raise _as_written(_renumbered(exc, positions), data, body) from None
    try:
        return _finish(raw, positions, set_aside, _moments(body))
    except InputError as exc:
        raise _as_written(exc, data, body) from None


def _without_overtaken(
    labs: tuple[Lab, ...], kept: list[int], moments: dict[int, dt.datetime]
) -> tuple[tuple[Lab, ...], list[int], tuple[tuple[str, str], ...]]:
    """``labs`` (read from the input positions ``kept``) without the results that a later,
    lower result of the same test overtakes although its written date is earlier (dates as
    written, timestamps with different UTC offsets: :mod:`engine.instants`), and those set
    aside with the reason. Only results whose ``date`` was a timestamp with an offset take
    part (``moments``, by input position)."""
    timed: list[instants.Timed] = []
    order: list[int] = []
    for k, (i, lab) in enumerate(zip(kept, labs, strict=True)):
        moment = moments.get(i)
        if moment is not None and lab.date is not None and isinstance(lab.value, float):
            timed.append(instants.Timed(lab.test, lab.value, lab.date, moment,
                                        f"{lab.test} {lab.given}", f"labs[{i}]"))  # fmt: skip
            order.append(k)
    dropped = instants.overtaken(timed)
    if not dropped:
        return labs, kept, ()
    gone = {order[t] for t in dropped}
    reasons = tuple((f"{timed[t].where} ({timed[t].test} on {timed[t].date})", why)
                    for t, why in sorted(dropped.items()))  # fmt: skip
    left = [k for k in range(len(labs)) if k not in gone]
    return tuple(labs[k] for k in left), [kept[k] for k in left], reasons


def _moments(body: dict[str, Any]) -> dict[int, dt.datetime]:
    """The drawing instant of each lab (by input position) whose date is a timestamp with a
    UTC offset."""
    given = body.get("labs")
    found = {
        i: instants.instant_of(lab.get("date"))
        for i, lab in enumerate(given if isinstance(given, list) else [])
        if isinstance(lab, dict)
    }
    return {i: moment for i, moment in found.items() if moment is not None}


def _screen_ancillary_labs(
    body: dict[str, Any],
) -> tuple[dict[str, Any], list[int], tuple[tuple[str, str], ...]]:
    """The body without the ancillary results (``vocab.ANCILLARY_TESTS``) whose shape is wrong
    (an impossible date, no value), each set aside with what was wrong; the input positions of
    the labs kept, for errors and set-aside results to name the lab as it was given."""
    labs = body.get("labs")
    if not isinstance(labs, list):
        return body, [], ()
    kept: list[Any] = []
    positions: list[int] = []
    set_aside: list[tuple[str, str]] = []
    for i, lab in enumerate(labs):
        given = lab.get("test") if isinstance(lab, dict) else None
        test = vocab.same_word(given, vocab.TESTS) if isinstance(given, str) else None
        if test in vocab.ANCILLARY_TESTS:
            try:
                LabResult.model_validate(lab)
            except ValidationError as exc:
                error = _input_error(exc, lab)
                field = f"labs[{i}].{error.field}" if error.field else f"labs[{i}]"
                error = InputError(field, error.problem, got=error.got, expected=error.expected)
                set_aside.append(_set_aside_entry(str(test), None, error))
                continue
        kept.append(lab)
        positions.append(i)
    return {**body, "labs": kept}, positions, tuple(set_aside)


def _set_aside_entry(test: str, date: dt.date | None, error: InputError) -> tuple[str, str]:
    when = f" on {date.isoformat()}" if date is not None else ""
    return (
        f"labs ({test}{when})",
        f"could not be read ({error}); the patient is evaluated without it",
    )


def _renumbered(exc: InputError, positions: list[int]) -> InputError:
    """An error about the ``k``-th lab kept, named by that lab's position in the input."""
    found = _LAB_FIELD.match(exc.field)
    if found is None or not 0 <= int(found[1]) < len(positions):
        return exc
    k = int(found[1])
    if positions[k] == k:
        return exc
    field = f"labs[{positions[k]}]" + exc.field[len(f"labs[{k}]") :]
    return InputError(field, exc.problem, got=exc.got, expected=exc.expected,
                      suggestion=exc.suggestion, source=exc.source)  # fmt: skip


_LAB_FIELD = re.compile(r"^labs\[(\d+)\](?:\.(\w+))?")


def _as_written(exc: InputError, data: dict[str, Any], body: dict[str, Any]) -> InputError:
    """An error about a lab the shorthand made (``labs[0].value``) named as the caller wrote it
    (``anc``, or ``anc.unit`` for ``{"anc": {"value": ..., "unit": ...}}``): a caller who never
    wrote ``labs`` should not have to guess which entry that was."""
    found = _LAB_FIELD.match(exc.field)
    labs, given = body.get("labs"), data.get("labs")
    first = len(given) if isinstance(given, list) else 0  # the shorthand's labs come after these
    if found is None or not isinstance(labs, list) or not first <= int(found[1]) < len(labs):
        return exc
    entry = labs[int(found[1])]
    test = entry.get("test") if isinstance(entry, dict) else None
    if not isinstance(test, str) or test not in data:
        return exc
    part = found[2]
    field = f"{test}.{part}" if isinstance(data[test], dict) and part else test
    field += exc.field[found.end() :]
    return InputError(field, exc.problem, got=exc.got, expected=exc.expected,
                      suggestion=exc.suggestion, source=exc.source)  # fmt: skip


def _drop_case_keys(data: dict[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise InputError(str(key), "keys must be strings", got=key)
        if key in vocab.CASE_FILE_KEYS or key == vocab.GIVEN_NOT_USED:
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
    """``{"wbc": 3.1, "anc": 0.9}`` -> long-form labs dated as_of/today, as are undated entries of
    ``labs`` beside them. A value is a number (read in the canonical unit only where that is
    unambiguous, :func:`engine.units.shorthand_unit`), a word, or ``{"value": V, "unit": U}``."""
    flat = [k for k in data if k in vocab.TESTS]
    if not flat:
        return data
    out = {k: v for k, v in data.items() if k not in flat}
    when = out.get("as_of") or today.isoformat()
    out.setdefault("as_of", when)
    labs = out.get("labs") or []
    if isinstance(labs, list):
        labs = [{**x, "date": when} if isinstance(x, dict) and x.get("date") is None else x
                for x in labs]  # fmt: skip
    for test in flat:
        entry: dict[str, Any] = {"test": test, "value": data[test], "date": when}
        if isinstance(data[test], dict):
            given = data[test]
            if set(given) - {"value", "unit", "comparator"} or "value" not in given:
                expected = '{"value": V, "unit": U} (and "comparator" for a bound)'
                raise InputError(test, "a shorthand value with its unit", expected=expected)
            entry.update(given)
        elif test in vocab.NUMERIC_TESTS:
            entry["unit"] = units.shorthand_unit(test, data[test], field=test)
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
    problem = err["msg"].lower().rstrip(".")
    got = err.get("input")
    if isinstance(got, (dict, list)):
        got = None
    elif isinstance(got, str) and len(got) > 60:
        got = got[:60] + "..."
    elif isinstance(got, dt.date):
        got = got.isoformat()
    expected = _DATE_RANGE if err["type"] == "date_range" else _expected_for(path)
    if path == "id":  # free text or a number: not the union member that sorts first ("integer")
        problem = "input should be text"
        expected = "free text such as 'MRN-0042', or a whole number read as text"
    return InputError(path, problem, got=got, expected=expected)


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
    f"a whole number of days from 0 to {MAX_DURATION_DAYS} (100 years)", "schema_version": "1",
    "comparator": "one of " + ", ".join(units.COMPARATORS),
}  # fmt: skip


def _expected_for(path: str) -> str | None:
    return _EXPECTED.get(path.rsplit(".", 1)[-1].split("[")[0])


def _finish(
    raw: _RawPatient, positions: Sequence[int], screened: tuple[tuple[str, str], ...],
    moments: dict[int, dt.datetime] | None = None,
) -> PatientFacts:  # fmt: skip
    """The canonical patient; ``positions`` are the input places of ``raw.labs`` (labs set
    aside before the shape check are gone from it), ``screened`` those set aside."""
    if raw.schema_version != vocab.SCHEMA_VERSION:
        raise InputError(
            "schema_version",
            "unsupported schema version",
            got=raw.schema_version,
            expected=str(vocab.SCHEMA_VERSION),
        )
    # the same words in another case (``Female``, ``Falling``), as for tests and findings
    sex = None if raw.sex is None else vocab.same_word(raw.sex, vocab.SEXES)
    trend = None if raw.wbc_trend is None else vocab.same_word(raw.wbc_trend, vocab.TRENDS)
    ancestry = [vocab.same_word(word, vocab.ANCESTRIES) for word in raw.ancestry]
    _check_word("sex", sex, vocab.SEXES)
    _check_word("wbc_trend", trend, vocab.TRENDS)
    for i, word in enumerate(ancestry):
        _check_word(f"ancestry[{i}]", word, vocab.ANCESTRIES)
    labs, kept, set_aside = _readable_labs(raw.labs, positions)
    overtaken: tuple[tuple[str, str], ...] = ()
    if moments:
        labs, kept, overtaken = _without_overtaken(labs, kept, moments)
    facts = PatientFacts(
        schema_version=raw.schema_version,
        id=None if raw.id is None else str(raw.id),
        as_of=raw.as_of, age=raw.age, sex=sex, duffy_null=raw.duffy_null,
        ancestry=tuple(sorted(set(ancestry))),
        labs=labs,
        medications=tuple(_medication(i, m) for i, m in enumerate(raw.medications)),
        conditions=_entries("conditions", raw.conditions, vocab.CONDITIONS),
        findings=_entries("findings", raw.findings, vocab.FINDINGS),
        history=_entries("history", raw.history, vocab.HISTORY),
        bmi=raw.bmi, wbc_trend=trend,
        leukopenia_duration_days=raw.leukopenia_duration_days,
        set_aside=screened + set_aside + overtaken,
    )  # fmt: skip
    units.check_same_day(
        (f"labs[{i}]", lab.test, lab.value, lab.date, lab.given, lab.comparator)
        for i, lab in zip(kept, facts.labs, strict=True)
        if isinstance(lab.value, float)
    )
    _check_has_count(facts)
    return facts


def _check_word(field: str, word: str | None, known: tuple[str, ...]) -> None:
    if word is not None and word not in known:
        # a one-letter code (F, M, U) is what many exports write: suggested, never accepted
        initial = [k for k in known if len(word.strip()) == 1 and k[0] == word.strip().lower()]
        raise InputError(
            field,
            "unknown word",
            got=word if len(word) <= 60 else word[:60] + "...",
            expected="one of " + ", ".join(known),
            suggestion=initial[0] if len(initial) == 1 else vocab.suggest(word, known),
        )


def _readable_labs(
    raw: Sequence[LabResult], positions: Sequence[int]
) -> tuple[tuple[Lab, ...], list[int], tuple[tuple[str, str], ...]]:
    """The labs read (with their input positions), and those of an ancillary test that could
    not be read, set aside with what was wrong (the patient is evaluated without them). Any
    other lab that cannot be read is an error of the whole patient: a blood count is never set
    aside. ``positions`` are the labs' places in the input (errors name them)."""
    labs: list[Lab] = []
    kept: list[int] = []
    set_aside: list[tuple[str, str]] = []
    for i, lab in zip(positions, raw, strict=True):
        try:
            labs.append(_canonical_lab(i, lab))
            kept.append(i)
        except InputError as exc:
            test = vocab.same_word(lab.test, vocab.TESTS) if isinstance(lab.test, str) else None
            if test not in vocab.ANCILLARY_TESTS:
                raise
            set_aside.append(_set_aside_entry(test, lab.date, exc))
    return tuple(labs), kept, tuple(set_aside)


def _canonical_lab(i: int, lab: LabResult) -> Lab:
    field = f"labs[{i}]"
    if isinstance(lab.test, str) and lab.test not in vocab.TESTS:
        lab = lab.model_copy(update={"test": vocab.same_word(lab.test, vocab.TESTS)})
    _check_word(f"{field}.test", lab.test, vocab.TESTS)
    sign = lab.comparator or ""
    given = f"{sign}{lab.value} {lab.unit}" if lab.unit else f"{sign}{lab.value}"
    name, unit = lab.test, ""
    value: float | str = lab.value
    if lab.test in vocab.NUMERIC_TESTS:
        if isinstance(lab.value, str):
            raise InputError(
                f"{field}.value", f"{lab.test} needs a number", got=lab.value, expected="a number"
            )
        bound = lab.comparator is not None
        name, value = units.to_canonical(lab.test, lab.value, lab.unit, field=field, bound=bound)
        unit = "%" if name == units.RETICULOCYTE_PCT else units.canonical_unit(lab.test)
        value = units.bound_value(name if name in units.CONVERSIONS else lab.test, value,
                                  lab.comparator, field=field)  # fmt: skip
    elif lab.comparator is not None:
        raise InputError(f"{field}.comparator", f"{lab.test} is qualitative and takes no "
                         "comparator", got=lab.comparator, expected="no comparator")  # fmt: skip
    else:
        value = units.to_word(lab.test, lab.value, lab.unit, field=field)
    if lab.date is None:  # the shorthand has dated its labs already
        raise InputError(f"{field}.date", "a lab result needs its date; an undated result is "
                         "not assumed current", expected="a date YYYY-MM-DD")  # fmt: skip
    return Lab(
        test=name, value=value, unit=unit, date=lab.date, given=given, comparator=lab.comparator
    )


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


def _sequential(earlier: list[Entry], later: list[Entry]) -> bool:
    """Whether every entry of ``earlier`` ended (``until``) before every entry of ``later``
    began (``since``): petechiae until 5 November, then recorded absent from 18 November."""
    ends = [e.until for e in earlier]
    starts = [e.since for e in later]
    if not ends or not starts or None in ends or None in starts:
        return False
    return max(e for e in ends if e) < min(s for s in starts if s)


def timelines(entries: Iterable[Entry]) -> Iterator[tuple[list[Entry], list[Entry]]]:
    """(earlier, later) of every item recorded in one state and then in the other (present,
    then absent, or the reverse), the earlier records all ending before the later begin. The
    parser accepts such an item, where present and absent records otherwise contradict each
    other; the facts read its later state (:func:`engine.facts.build_facts`)."""
    entries = list(entries)
    for name in sorted({e.name for e in entries}):
        present = [e for e in entries if e.name == name and e.present]
        absent = [e for e in entries if e.name == name and not e.present]
        for earlier, later in ((present, absent), (absent, present)):
            if _sequential(earlier, later):
                yield earlier, later


def _entries(field: str, items: list[Entry | str], known: tuple[str, ...]) -> tuple[Entry, ...]:
    out = []
    for i, item in enumerate(items):
        entry = Entry(name=item) if isinstance(item, str) else item
        if entry.name not in known:
            entry = entry.model_copy(update={"name": vocab.same_word(entry.name, known)})
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
    clashing = sorted(both - {later[0].name for _, later in timelines(out)})
    if clashing:
        name = clashing[0]
        raise InputError(
            field,
            f"{name} is recorded both present and absent",
            got=name,
            expected="one entry per item: present, or {name, present: false}; or a timeline "
            "whose earlier records end (until) before the later ones begin (since)",
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
