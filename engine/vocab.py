# SPDX-License-Identifier: Apache-2.0
"""Contract vocabularies (contract sections 1.1, 1.3 and 2) and did-you-mean suggestions.

This module and :mod:`engine.units` are the only places in ``engine/`` that name contract
words; everything medical beyond the words themselves lives in ``rules/``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

SCHEMA_VERSION = 1

#: Lab tests whose value is a number (contract 1.1); units are in :mod:`engine.units`.
NUMERIC_TESTS: tuple[str, ...] = (
    "wbc", "anc", "alc", "amc",
    "neutrophil_pct", "lymphocyte_pct", "band_pct",
    "hemoglobin", "platelets", "mcv",
    "vitamin_b12", "folate", "copper", "ceruloplasmin", "igg", "crp",
    "lgl_count", "blasts_pct", "atypical_lymphocytes_pct", "reticulocytes",
    "ldh", "bilirubin", "haptoglobin", "methylmalonic_acid", "homocysteine",
    "ferritin", "zinc", "alt", "ast", "creatinine", "esr", "c3", "c4",
)  # fmt: skip

#: Qualitative tests and the words each accepts (contract 1.1). ``ana`` also takes a titer "1:N".
QUALITATIVE_TESTS: dict[str, tuple[str, ...]] = {
    **{
        t: ("positive", "negative")
        for t in (
            "ana",
            "anti_neutrophil_ab",
            "hiv",
            "ebv_igm",
            "cmv_igm",
            "parvovirus_igm",
            "anti_dsdna",
            "direct_coombs",
            "rheumatoid_factor",
            "anti_ccp",
            "ebv_pcr",
            "cmv_pcr",
            "parvovirus_pcr",
            "sars_cov_2",
            "hiv_rna",
            "brucella_serology",
            "blood_culture",
        )
    },  # fmt: skip
    "tpmt_activity": ("low", "intermediate", "normal"),
    "tpmt_genotype": ("normal", "heterozygous", "homozygous"),
    "nudt15_genotype": ("normal", "heterozygous", "homozygous"),
}

#: Tests whose values form the dated series that trend and duration come from.
COUNT_TESTS: tuple[str, ...] = ("wbc", "anc", "alc", "amc", "platelets", "hemoglobin")

TESTS: tuple[str, ...] = tuple(sorted((*NUMERIC_TESTS, *QUALITATIVE_TESTS)))

#: Tests whose high results are the abnormal ones: of two results of one day the highest is
#: kept (for every other test, the counts first, the lowest is), so that a blast count of 25%
#: beside a 0% of the same day still raises the blasts alert (probe 9).
HIGHEST_OF_DAY: frozenset[str] = frozenset(
    (
        "blasts_pct", "atypical_lymphocytes_pct", "lgl_count", "ldh", "ferritin", "crp", "esr",
        "bilirubin", "alt", "ast", "creatinine", "methylmalonic_acid", "homocysteine",
    )
)  # fmt: skip

#: Tests no alert reads (tests/kb/test_ancillary_tests.py checks this against the knowledge
#: base's alert rules): a result of one of them that cannot be read (an unknown unit, an
#: implausible value, no date) is set aside, named in ``ignored_inputs``, and the patient is
#: still evaluated, instead of the whole patient failing and with it an alert the blood count
#: raises (an LDH in IU/dL cost a clozapine patient's ANC-0.4 alert). A blood count, or a test a
#: drug-hold alert reads (TPMT, NUDT15), that cannot be read still fails the patient.
ANCILLARY_TESTS: frozenset[str] = frozenset(
    (
        "vitamin_b12", "folate", "copper", "ceruloplasmin", "igg", "crp", "ldh", "bilirubin",
        "haptoglobin", "methylmalonic_acid", "homocysteine", "ferritin", "zinc", "alt", "ast",
        "creatinine", "esr", "c3", "c4",
        "ana", "anti_neutrophil_ab", "hiv", "ebv_igm", "cmv_igm", "parvovirus_igm", "anti_dsdna",
        "direct_coombs", "rheumatoid_factor", "anti_ccp", "ebv_pcr", "sars_cov_2", "hiv_rna",
        "cmv_pcr", "parvovirus_pcr",
        "brucella_serology", "blood_culture",
    )
)  # fmt: skip

SEXES: tuple[str, ...] = ("female", "male", "other", "unknown")
TRENDS: tuple[str, ...] = ("falling", "stable", "rising", "fluctuating", "cyclic")

CONDITIONS: tuple[str, ...] = (
    "cll", "cml", "acute_leukemia", "lymphoma", "mds", "myelofibrosis", "lgl_leukemia",
    "solid_tumor", "sle", "rheumatoid_arthritis", "sjogren", "ibd", "hiv", "hepatitis_b",
    "hepatitis_c", "cirrhosis", "portal_hypertension", "alcohol_use_disorder",
    "anorexia_nervosa", "celiac_disease", "fmf", "hypothyroidism", "hyperthyroidism",
    "sarcoidosis", "tuberculosis", "leishmaniasis", "malaria", "brucellosis", "pregnancy",
    "benign_ethnic_neutropenia",  # documented BEN (Duffy-null associated neutrophil count)
)  # fmt: skip

FINDINGS: tuple[str, ...] = (
    "splenomegaly", "hepatomegaly", "lymphadenopathy", "fever", "recurrent_infections",
    "oral_ulcers", "periodic_fevers", "arthritis", "malar_rash", "weight_loss", "night_sweats",
    "fatigue", "bleeding", "petechiae", "glossitis", "neuropathy", "jaundice",
    "recent_viral_illness", "sepsis", "dysmorphic_features",
    "rash", "diarrhea", "pharyngitis", "hypotension", "abscess", "purpura",
    "smear_blasts", "smear_dysplasia", "smear_hypersegmented_neutrophils",
    "smear_atypical_lymphocytes", "smear_large_granular_lymphocytes",
)  # fmt: skip

HISTORY: tuple[str, ...] = (
    "chemotherapy", "radiotherapy", "stem_cell_transplant", "gastrectomy", "bariatric_surgery",
    "zinc_supplementation", "total_parenteral_nutrition", "childhood_onset",
    "family_history_neutropenia", "recent_travel",
    "splenectomy", "recent_hepatitis", "endemic_area_residence", "animal_exposure",
    "sickle_cell_trait", "dialysis", "family_history_leukemia",
    "tick_bite", "solid_organ_transplant",
)  # fmt: skip

ANCESTRIES: tuple[str, ...] = (
    "african", "african_american", "afro_caribbean", "middle_eastern", "yemenite_jewish",
    "arab", "south_asian", "east_asian", "european", "hispanic", "indigenous", "mixed",
    "unknown",
)  # fmt: skip

#: Contract section 2, in the contract's order.
CAUSES: tuple[str, ...] = (
    "clozapine_induced", "tki_myelosuppression", "thiopurine_toxicity",
    "chemotherapy_radiation", "drug_induced_other", "cll", "acute_leukemia", "lymphoma", "mds",
    "lgl_leukemia", "marrow_infiltration", "aplastic_anemia", "sle", "felty_syndrome",
    "autoimmune_neutropenia", "hypersplenism", "megaloblastic", "copper_deficiency",
    "malnutrition", "alcohol", "viral_infection", "hiv", "sepsis", "infection_other",
    "duffy_null", "cyclic_neutropenia", "congenital_neutropenia",
    "chronic_idiopathic_neutropenia", "fmf",
)  # fmt: skip

#: The membership vocabularies, by the key they appear under in patient facts and rules.
MEMBERSHIP: dict[str, tuple[str, ...]] = {
    "condition": CONDITIONS,
    "finding": FINDINGS,
    "history": HISTORY,
    "ancestry": ANCESTRIES,
    # recorded absences ({name: X, present: false}): known negatives, distinct from "not mentioned"
    "absent_condition": CONDITIONS,
    "absent_finding": FINDINGS,
    "absent_history": HISTORY,
    # a medication name the lexicon does not know but that resembles a lexicon drug: the names
    # are the lexicon's drugs and classes (checked against the lexicon, not a fixed vocabulary)
    "suspected_drug": (),
}

#: Keys of a case file (contract 4) that ``diagnose`` accepts and ignores.
CASE_FILE_KEYS: tuple[str, ...] = ("expected", "acceptable", "source", "notes")


#: An input key: what the caller's own reader set aside (``[{item, reason}]``, the shape of the
#: output's ``ignored_inputs``), carried into the output so that nothing is dropped silently (the
#: table reader's ``--skip-unknown-tests`` rows).
GIVEN_NOT_USED = "ignored_inputs"


def same_word(word: str, known: tuple[str, ...]) -> str:
    """``word`` as the vocabulary spells it when the two differ only in case and surrounding
    spaces (``WBC`` is ``wbc``, ``Fever`` is ``fever``): the same word, not a guess. Anything
    else is returned as given, for the caller to refuse."""
    if word in known:
        return word
    folded = word.strip().casefold()
    return folded if folded in known else word


def is_test(word: str) -> bool:
    """Whether ``word`` names a test of the contract, whatever its case and surrounding spaces,
    as the patient reader reads it (:func:`same_word`)."""
    return same_word(word, TESTS) in TESTS


def suggest(word: str, known: Iterable[str]) -> str | None:
    """The closest known word to ``word`` (for "did you mean"), or None when nothing is close."""
    candidates = list(known)
    lowered = word.lower()
    if lowered in candidates and lowered != word:
        return lowered
    if lowered == "transplant" and lowered not in candidates:
        return None  # stem cell or solid organ: spelling cannot tell, and either would mislead
    transplant = _transplant_kind(lowered)
    if transplant in candidates:
        return transplant
    # A known word the input starts with ("anc_count" -> "anc") beats a merely similar spelling.
    stems = [k for k in candidates if lowered.startswith(k + "_") or lowered.endswith("_" + k)]
    if stems:
        return max(stems, key=len)
    matches = difflib.get_close_matches(lowered, candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


#: Words that name a transplant of blood-forming cells rather than of an organ.
_MARROW_WORDS = ("stem", "marrow", "hsct", "bmt", "haemat", "hemat", "cord_blood", "sct")


def _transplant_kind(word: str) -> str | None:
    """The history word for a transplant named another way: by spelling alone "kidney_transplant"
    was closest to "stem_cell_transplant", whose alerts (graft failure, GVHD) then misled (probe
    19); the organ decides which word to suggest."""
    named = "transplant" in word or word in ("hsct", "bmt", "sot") or word.endswith("_sct")
    if not named:
        return None
    if any(part in word for part in _MARROW_WORDS):
        return "stem_cell_transplant"
    return "solid_organ_transplant"


#: Who an output is written for (``diagnose(..., audience=...)``, ``--audience``).
AUDIENCES: tuple[str, ...] = ("clinician", "patient")
