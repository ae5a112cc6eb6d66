# SPDX-License-Identifier: Apache-2.0
"""leukodx: a rule-based, citation-backed differential diagnosis engine for leukopenia.

Decision support for clinicians and researchers, not a medical device.

    >>> from engine import diagnose
    >>> d = diagnose({"wbc": 2.1, "anc": 0.4, "medications": ["clozapine"]})
    >>> d.candidates[0].cause
"""

from engine.api import diagnose
from engine.differential import Candidate, Differential, Evidence
from engine.errors import (
    BackendUnavailableError,
    InputError,
    KnowledgeBaseError,
    LeukodxError,
)
from engine.kb.load import KnowledgeBase, load_knowledge_base
from engine.patient import PatientFacts, parse_patient
from engine.version import __version__

__all__ = [
    "BackendUnavailableError",
    "Candidate",
    "Differential",
    "Evidence",
    "InputError",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "LeukodxError",
    "PatientFacts",
    "__version__",
    "diagnose",
    "load_knowledge_base",
    "parse_patient",
]
