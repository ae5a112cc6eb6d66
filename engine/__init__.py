# SPDX-License-Identifier: Apache-2.0
"""leukodx: a rule-based, citation-backed differential diagnosis engine for leukopenia.

Decision support for clinicians and researchers, not a medical device.

    >>> from engine import diagnose
    >>> d = diagnose({"wbc": 2.1, "anc": 0.4, "medications": ["clozapine"]})
    >>> d.candidates[0].cause
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from engine.version import __version__

if TYPE_CHECKING:  # what type checkers and readers see; at run time the names load on first use
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

#: Where each public name lives. Importing ``engine`` costs only this table: the pipeline (pydantic
#: models, the knowledge-base loader) is imported when a name is first used, so ``leukodx
#: --version`` and the CLI's other light paths do not pay for it (PEP 562).
_HOMES: dict[str, str] = {
    "diagnose": "engine.api",
    "Candidate": "engine.differential",
    "Differential": "engine.differential",
    "Evidence": "engine.differential",
    "BackendUnavailableError": "engine.errors",
    "InputError": "engine.errors",
    "KnowledgeBaseError": "engine.errors",
    "LeukodxError": "engine.errors",
    "KnowledgeBase": "engine.kb.load",
    "load_knowledge_base": "engine.kb.load",
    "PatientFacts": "engine.patient",
    "parse_patient": "engine.patient",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later look-ups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
