# SPDX-License-Identifier: Apache-2.0
"""The seam between leukodx and a rule engine.

A backend compiles a :class:`~engine.kb.load.KnowledgeBase` once into a :class:`Matcher`; the
matcher runs one patient's :class:`~engine.facts.FactSet` and returns the firings (rule id, facts
matched, facts asserted). Everything after that (findings, scores, explanations) is shared code,
so every backend gives the same differential by construction, provided its firings agree.

Semantics every backend must implement (docs/rule-language.md):
* a rule fires at most once per patient; further matches only add to its matched facts;
* a rule of stratum n fires only after every rule of a lower stratum that can fire has fired;
* a derive rule asserts the value fact ``d:<rule id>`` (name and value from its effect).
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, NamedTuple, Protocol

from engine.errors import BackendUnavailableError, InputError

if TYPE_CHECKING:
    from engine.facts import FactSet
    from engine.kb.load import KnowledgeBase

#: The backend used when none is named: CLIPS, about ten times faster per case than experta and
#: proven to give byte-identical differentials (tests/property/test_backend_equivalence.py);
#: experta stays the pure-Python reference backend.
DEFAULT_BACKEND = "clips"

#: Backend name -> module implementing ``compile(kb) -> Matcher``.
BACKENDS: dict[str, str] = {
    "experta": "engine.backends.experta",
    "clips": "engine.backends.clips",
}

DERIVED_PREFIX = "d:"


class Firing(NamedTuple):
    """One rule's firing: the facts its activations matched and the facts it asserted. A named
    tuple and not a frozen dataclass: a patient has about a hundred firings, and a frozen
    dataclass's ``__init__`` (one ``object.__setattr__`` per field) was a tenth of reading
    them back from CLIPS."""

    rule_id: str
    matched: tuple[str, ...]  # fact ids, sorted
    asserted: tuple[str, ...]  # derived fact ids


class Matcher(Protocol):
    """A compiled knowledge base. ``run`` must be safe to call from several threads."""

    backend: str

    def run(self, facts: FactSet) -> list[Firing]: ...


_MATCHERS: dict[tuple[str, str], Matcher] = {}
_LOCK = threading.Lock()


def get_matcher(kb: KnowledgeBase, backend: str) -> Matcher:
    """The compiled matcher for ``kb`` on ``backend``, compiled once per KB content hash."""
    if backend not in BACKENDS:  # a bad argument, like a bad audience: an InputError
        raise InputError(
            "backend", "unknown backend", got=backend, expected="one of " + ", ".join(BACKENDS)
        )
    key = (kb.content_hash, backend)
    with _LOCK:
        matcher = _MATCHERS.get(key)
        if matcher is None:
            try:
                module = importlib.import_module(BACKENDS[backend])
            except ModuleNotFoundError as exc:
                raise BackendUnavailableError(
                    f"backend '{backend}' needs the optional dependency '{exc.name}': "
                    "install it with: pip install 'leukodx[fast]'"
                ) from exc
            matcher = module.compile(kb)
            _MATCHERS[key] = matcher
    return matcher


def derived_fid(rule_id: str) -> str:
    return DERIVED_PREFIX + rule_id
