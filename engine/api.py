# SPDX-License-Identifier: Apache-2.0
"""``diagnose()``: patient facts in, ranked differential out (parse -> facts -> infer -> explain).

The compiled knowledge base is cached by content hash (:func:`engine.backends.base.get_matcher`),
so calling ``diagnose`` in a loop compiles once; each thread gets its own engine instance.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from engine.audience import for_patient
from engine.backends.base import DEFAULT_BACKEND, get_matcher
from engine.differential import Differential, IgnoredInput
from engine.errors import InputError
from engine.explain import build_differential
from engine.facts import build_facts
from engine.kb.load import KnowledgeBase, load_knowledge_base
from engine.kb.yamlio import load_patient_file
from engine.patient import PatientFacts, parse_patient
from engine.vocab import AUDIENCES, GIVEN_NOT_USED

PatientInput = dict[str, Any] | PatientFacts | str | Path | list[Any]

#: A shorthand patient (contract section 1) that every knowledge base can diagnose: the batch
#: and service workers and the service's threads diagnose it once at start, so that the compiled
#: engine and what every differential shares exist before the first real patient arrives.
WARMUP_FACTS: dict[str, Any] = {"wbc": 3.0, "anc": 1.0}


def diagnose(
    facts: PatientInput,
    *,
    kb: KnowledgeBase | str | Path | None = None,
    backend: str = DEFAULT_BACKEND,
    today: dt.date | None = None,
    audience: str = "clinician",
) -> Differential:
    """Rank the causes of a low white count for one patient.

    ``facts`` is a contract section 1 dict (long form or shorthand), a :class:`PatientFacts`, a
    path to a YAML/JSON patient or case file, or a FHIR R4 Bundle (dict, or list of resources).
    Case-file keys (``expected``, ``acceptable``, ``source``, ``notes``) are accepted and ignored.
    ``audience="patient"`` gives the plain-language view (:mod:`engine.audience`); the clinician
    view is the default.
    Raises :class:`~engine.errors.InputError` for invalid facts and
    :class:`~engine.errors.KnowledgeBaseError` for an invalid knowledge base.
    """
    if audience not in AUDIENCES:
        raise InputError(
            "audience", "unknown audience", got=audience, expected=" or ".join(AUDIENCES)
        )
    if kb is not None and not isinstance(kb, (KnowledgeBase, str, Path)):
        raise InputError(
            "kb", "not a knowledge base", got=type(kb).__name__,
            expected="a KnowledgeBase, a path to a rules directory, or None for the bundled one",
        )  # fmt: skip
    if today is not None and not isinstance(today, dt.date):  # "2025-03-01" failed deep inside
        raise InputError(
            "today", "not a date", got=repr(today)[:60],
            expected="a datetime.date (the date undated shorthand values are given), or None",
        )  # fmt: skip
    if isinstance(today, dt.datetime):
        today = today.date()
    knowledge = kb if isinstance(kb, KnowledgeBase) else load_knowledge_base(kb)
    today = today or dt.date.today()
    source: str | None = None
    if isinstance(facts, (str, Path)):
        source = "<ndjson text>" if _is_ndjson_text(facts) else str(facts)
        facts = read_patient_source(facts)
    data, ignored = _from_fhir_if_needed(facts, today)
    ignored += _given_not_used(data)
    try:
        patient = parse_patient(data, today=today)
    except InputError as exc:
        exc = _with_ignored(exc, ignored)
        raise (exc.with_source(source) if source else exc) from None
    fact_set = build_facts(patient, knowledge, today=today)
    matcher = get_matcher(knowledge, backend)
    firings = matcher.run(fact_set)
    ignored += [IgnoredInput(item=item, reason=reason) for item, reason in fact_set.ignored]
    result = build_differential(
        knowledge,
        fact_set,
        firings,
        patient_id=patient.id,
        backend=matcher.backend,
        ignored=ignored,
    )
    return for_patient(result, knowledge) if audience == "patient" else result


#: How many unused FHIR inputs an error message lists before it says "and N more".
_IGNORED_SHOWN = 10


def _given_not_used(data: object) -> list[IgnoredInput]:
    """The input's own ``ignored_inputs`` (what the caller's reader set aside), checked: a list
    of ``{item, reason}`` texts, carried into the output's list."""
    given = data.get(GIVEN_NOT_USED) if isinstance(data, dict) else None
    if given is None:
        return []
    shape = "a list of {item, reason} texts"
    if not isinstance(given, list):
        raise InputError(GIVEN_NOT_USED, "not a list", got=type(given).__name__, expected=shape)
    out = []
    for i, entry in enumerate(given):
        ok = isinstance(entry, dict) and set(entry) == {"item", "reason"}
        if not ok or not all(isinstance(v, str) for v in entry.values()):
            raise InputError(f"{GIVEN_NOT_USED}[{i}]", "not an {item, reason} entry", got=entry,
                             expected=shape)  # fmt: skip
        out.append(IgnoredInput(item=entry["item"], reason=entry["reason"]))
    return out


def _is_ndjson_text(source: str | Path) -> bool:
    return isinstance(source, str) and source.lstrip().startswith("{")


def read_patient_source(source: str | Path) -> Any:
    """A patient or case file (YAML or JSON), a FHIR Bulk Data ``.ndjson`` file, or NDJSON text
    (a string that starts with ``{``: no path does): the documented FHIR inputs, where a
    ``.ndjson`` file was read as YAML and failed at its second line."""
    path = None if _is_ndjson_text(source) else Path(source)
    if path is not None and path.suffix.lower() != ".ndjson":
        return load_patient_file(path)
    from engine.fhir.convert import parse_ndjson  # only NDJSON input pays for the FHIR reader

    if path is None:
        return parse_ndjson(str(source))
    try:
        text = path.read_text(encoding="utf-8-sig")  # a leading byte order mark is dropped
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError("file", f"cannot read: {exc}", source=str(path)) from exc
    try:
        return parse_ndjson(text)
    except InputError as exc:
        raise exc.with_source(str(path)) from None


def _with_ignored(exc: InputError, ignored: list[IgnoredInput]) -> InputError:
    """The error of FHIR input that did not parse, naming what the converter left out (a count
    dropped for its unit explains "at least one WBC or ANC value is required"): the same message
    reaches the CLI's exit-2 error and a batch error record."""
    if not ignored:
        return exc
    shown = "; ".join(f"{i.item}: {i.reason}" for i in ignored[:_IGNORED_SHOWN])
    more = f"; and {len(ignored) - _IGNORED_SHOWN} more" if len(ignored) > _IGNORED_SHOWN else ""
    problem = f"{exc.problem} [FHIR input not used ({len(ignored)}): {shown}{more}]"
    return InputError(
        exc.field, problem, got=exc.got, expected=exc.expected, suggestion=exc.suggestion
    )


def _from_fhir_if_needed(data: Any, today: dt.date) -> tuple[Any, list[IgnoredInput]]:
    """A FHIR Bundle or resource list becomes contract facts; anything else passes through."""
    if not _may_be_fhir(data):
        return data, []
    from engine.fhir import (
        convert as fhir,  # FHIR detection and conversion: only FHIR callers pay for it
    )

    looks_fhir = (
        fhir.is_fhir(data)
        or (isinstance(data, dict) and "resourceType" in data)
        or (isinstance(data, list) and bool(data) and all(isinstance(x, dict) for x in data))
    )
    if not looks_fhir:
        if isinstance(data, list):
            raise InputError(
                "(top level)",
                "patient facts must be a mapping",
                got="list",
                expected="a mapping, or a list of FHIR resources",
            )
        return data, []
    if not fhir.is_fhir(data):
        raise InputError(
            "resourceType",
            "not a FHIR R4 Bundle or resource list",
            expected="a Bundle or a list of FHIR resources",
        )
    converted = fhir.from_fhir(data, today=today)
    ignored = [IgnoredInput(item=i.resource, reason=i.reason) for i in converted.ignored]
    return converted.facts, ignored


def _may_be_fhir(data: Any) -> bool:
    """False only for input that cannot be FHIR (neither a list nor a mapping with a
    ``resourceType`` in it or in one of its values, as a prefetch map has), so that a patient
    mapping never imports the FHIR reader; :func:`engine.fhir.convert.is_fhir` decides the rest."""
    if isinstance(data, dict):
        return "resourceType" in data or any(
            isinstance(v, dict) and "resourceType" in v for v in data.values()
        )
    return isinstance(data, list)
