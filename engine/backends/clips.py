# SPDX-License-Identifier: Apache-2.0
"""The knowledge base compiled to CLIPS 6.4 through clipspy (``backend="clips"``, extra ``fast``).

:mod:`engine.backends.clips_compile` turns ``kb.rules`` into CLIPS constructs; this module builds
them into one ``clips.Environment`` per thread (``threading.local``). Per patient it resets the
environment, asserts the patient's facts with one call of the loader deffunction (only facts
some rule mentions: no other can match), runs the rules and reads the ``firing`` facts back
with one more call. Semantics are those of
:mod:`engine.backends.base`; equivalence with the experta backend is a property test
(tests/property/test_backend_equivalence.py).

Costs that shaped this module (measured, see benchmarks/README.md): each value crossing the
clipspy boundary costs about 1.5 microseconds, so facts go in as one argument list and firings
come back as one string; ``Template.assert_fact`` leaves state behind in CLIPS that makes every
later API call slower, so it is not used; and text that CLIPS parses (``eval``, ``build``) is
read character by character through clipspy's Python error router, so nothing is parsed per
patient. That router is replaced by one that keeps CLIPS's messages for the exception instead of
also echoing them to the terminal.

A cold process does not compile at all when the knowledge base's binary image (CLIPS ``bsave``)
is in the cache folder: :mod:`engine.backends.clips_image` finds and verifies it, and this module
``bload``s it (about 8 ms against 45 for compiling); a compile saves the image for the next.

Patient fact ids are passed to CLIPS as small integers (indices into this patient's fact list)
and mapped back, so no caller-supplied text needs to round-trip through CLIPS.

CLIPS prints ``[ENVRNMNT8] Environment data not fully deallocated`` straight to the C stdout when
an environment is destroyed while the host still holds references into it, typically at
interpreter exit. At exit the environments of this module are therefore left to the operating
system instead of being destroyed (:func:`_forget_environments`).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import tempfile
import threading
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.backends import clips_image
from engine.backends.base import Firing, derived_fid
from engine.backends.clips_compile import (
    LOAD_FACTS,
    LOWER,
    READ_FIRINGS,
    UPPER,
    Mentioned,
    content,
    mentioned,
    rule_constructs,
    string,
    support_constructs,
)
from engine.errors import LeukodxError
from engine.kb.catalog import MEDICATION_FIELDS, MEMBERSHIP_FIELDS
from engine.kb.load import is_loaded
from engine.kb.schema import Derive
from engine.series import BOUNDS, LowerBound, UpperBound

try:
    import clips
    import clips._clips
except ModuleNotFoundError as exc:  # the import name differs from the distribution name
    raise ModuleNotFoundError(
        "No module named 'clips' (from the 'clipspy' package)", name="clipspy"
    ) from exc

if TYPE_CHECKING:
    from engine.facts import FactSet
    from engine.kb.load import KnowledgeBase

NAME = "clips"

_word = functools.lru_cache(maxsize=4096)(content)
_INT64 = range(-(2**63), 2**63)


class _Session:
    """One thread's environment (a weak-referenceable holder: Environment has ``__slots__``)."""

    __slots__ = ("env", "__weakref__")

    def __init__(self, env: Any) -> None:
        self.env = env


_SESSIONS: weakref.WeakSet[_Session] = weakref.WeakSet()


@atexit.register
def _forget_environments() -> None:
    """Leave live environments to the OS at exit, so CLIPS's ENVRNMNT8 report never prints."""
    for session in list(_SESSIONS):
        try:
            del session.env._env  # clipspy's Environment.__del__ then skips DestroyEnvironment
        except AttributeError:
            pass


class ClipsMatcher:
    """Runs patients on per-thread CLIPS environments built from the same constructs.

    An environment is loaded from the knowledge base's image on disk when there is a verified
    one (:mod:`engine.backends.clips_image`), else built from the constructs, and the image is
    then saved for the next process. ``image=False`` never reads or writes an image."""

    backend = NAME

    def __init__(self, kb: KnowledgeBase, *, image: bool = True) -> None:
        self._rules = kb.rules
        self._rule_ids = tuple(r.id for r in kb.rules)
        self._asserted = tuple(
            (derived_fid(r.id),) if isinstance(r.then, Derive) else () for r in kb.rules
        )
        self.mentioned = mentioned(kb.rules)
        self._image_key = (
            clips_image.image_key(kb.content_hash, _LIBRARY) if image and is_loaded(kb) else None
        )
        self._local = threading.local()
        self.environment()  # build now: a construct CLIPS rejects fails at compile time

    @functools.cached_property
    def constructs(self) -> tuple[str, ...]:
        """The CLIPS source of the knowledge base (generated only when there is no image)."""
        return (*support_constructs(), *rule_constructs(self._rules))

    @property
    def image(self) -> str | None:
        """The key of this knowledge base's image on disk (None: no image is used)."""
        return self._image_key

    def environment(self) -> Any:
        """This thread's ``clips.Environment`` (built on first use)."""
        session: _Session | None = getattr(self._local, "session", None)
        if session is None:
            session = _Session(self._new_environment())
            _SESSIONS.add(session)
            self._local.session = session
        return session.env

    def _new_environment(self) -> Any:
        key = self._image_key
        path = clips_image.find(key) if key else None
        if key and path is not None:
            env = _environment()
            try:
                env.load(str(path), binary=True)
                if env.find_global(_STAMP).value == key:
                    return env
            except (clips.CLIPSError, LookupError):
                pass  # not an image of this knowledge base: compiled below, and saved anew
        env = build_environment(self.constructs)
        if key:
            clips_image.save(key, functools.partial(_bsave, env, key))
        return env

    def run(self, facts: FactSet) -> list[Firing]:
        env = self.environment()
        records, fids = fact_records(facts, self.mentioned)
        try:
            env.reset()
            env.call(LOAD_FACTS, *records)
            env.run()
            firing_facts = env.call(READ_FIRINGS)
        except clips.CLIPSError as exc:
            raise LeukodxError(f"clips backend: {exc}") from exc
        return read_firings(firing_facts, fids, self._rule_ids, self._asserted)


def _environment() -> Any:
    """An empty environment whose errors go to a quiet router."""
    env = clips.Environment()
    quiet = _QuietErrorRouter()
    for router in list(env.routers()):
        if router.name == quiet.name:  # clipspy's own, which CLIPSError reads by this name
            router.delete()
    env.add_router(quiet)
    return env


#: The CLIPS extension module, part of an image's key (an image is valid for one build of CLIPS).
_LIBRARY = Path(clips._clips.__file__)


#: The global that stamps an image with its key, checked after ``bload``: an image under the
#: wrong name (copied or renamed by hand) is then recompiled instead of running the wrong rules.
_STAMP = "leukodx-image"


def _bsave(env: Any, key: str, path: str) -> None:
    """Save ``env``'s constructs, stamped with ``key``, as a binary image at ``path``, without
    the warning CLIPS prints on the way that slot constraints are not saved (they only matter
    with dynamic constraint checking, which is off, so the image behaves the same)."""
    env.build(f"(defglobal ?*{_STAMP}* = {string(key)})")
    mute = _MuteRouter()
    env.add_router(mute)
    try:
        env.save(path, binary=True)
    finally:
        mute.delete()


class _MuteRouter(clips.routers.Router):  # type: ignore[misc]
    """Swallows CLIPS's warnings (``stdwrn``), which would otherwise go straight to stdout."""

    def __init__(self) -> None:
        super().__init__("leukodx-mute-warnings", 50)

    def query(self, name: str) -> bool:
        return name == "stdwrn"

    def write(self, name: str, message: str) -> None:
        pass


class _QuietErrorRouter(clips.routers.ErrorRouter):  # type: ignore[misc]
    """clipspy's error router without the echo: CLIPS error text ends up in the CLIPSError
    (and so in our LeukodxError), never on the terminal (a library does not print)."""

    def write(self, name: str, message: str) -> None:
        self._last_message += message


def build_environment(constructs: Iterable[str]) -> Any:
    """A fresh ``clips.Environment`` with ``constructs`` built.

    They are written to one temporary file that CLIPS loads itself: CLIPS then parses in C, about
    14 times faster than building one construct per call, whose text clipspy feeds through a
    Python router. If CLIPS rejects the file, the constructs are built one by one in a fresh
    environment so that the error names the construct at fault."""
    constructs = tuple(constructs)
    env = _environment()
    fd, path = tempfile.mkstemp(prefix="leukodx-", suffix=".clp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("\n".join(constructs))
        env.load(path)
        return env
    except (clips.CLIPSError, OSError):
        pass  # built one by one below, for the message
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    env = _environment()
    for construct in constructs:
        try:
            env.build(construct)
        except clips.CLIPSError as exc:
            raise LeukodxError(
                f"clips backend: CLIPS rejected a generated construct: {exc}\n{construct}"
            ) from exc
    return env


def fact_records(facts: FactSet, mentioned: Mentioned) -> tuple[list[Any], list[str]]:
    """The loader's argument list for the facts rules mention, and their ids by the number the
    loader gives them (``fid`` in CLIPS): values, memberships and courses, in that order.

    A course lists its mentioned agents (the drug and its classes); CLIPS asserts one ``x`` fact
    per agent, all with the course's number. An absent field is None, which clipspy passes as the
    symbol ``nil``. See :data:`~engine.backends.clips_compile.RECORDS`.
    """
    fids: list[str] = []
    values = [v for v in facts.values if v.name in mentioned.values]
    out: list[Any] = [len(values)]
    for v in values:
        out += (_word(v.name), _value(v.value), _bound(v.value))
        fids.append(v.fid)
    members = [m for m in facts.members if (m.kind, m.name) in mentioned.members]
    out.append(len(members))
    for m in members:
        out += (_word(m.kind), _word(m.name))
        out += (_value(m.fields.get(k)) for k in MEMBERSHIP_FIELDS)
        fids.append(m.fid)
    courses = [(c, [a for a in c.agents if a in mentioned.agents]) for c in facts.courses]
    courses = [(c, agents) for c, agents in courses if agents]
    out.append(len(courses))
    for c, agents in courses:
        out += (len(agents), *(_word(a) for a in agents), _word(c.drug))
        out += (_value(c.fields.get(k)) for k in MEDICATION_FIELDS)
        fids.append(c.fid)
    return out, fids


def _bound(value: Any) -> str | None:
    """The ``bound`` slot of a value fact: nil (None) for an exact value."""
    if type(value) is UpperBound:
        return UPPER
    return LOWER if type(value) is LowerBound else None


def _value(value: Any) -> Any:
    """A fact value as clipspy should pass it: a word as its :func:`content` (a STRING), a bool
    as the symbol TRUE/FALSE, a number as INTEGER/FLOAT (an int beyond 64 bits as a FLOAT)."""
    if isinstance(value, str):
        return _word(value)
    if type(value) is int and value not in _INT64:
        return float(value)
    return float(value) if type(value) in BOUNDS else value


def read_firings(
    facts: Iterable[str], fids: list[str], rule_ids: tuple[str, ...],
    asserted: tuple[tuple[str, ...], ...],
) -> list[Firing]:  # fmt: skip
    """Decode the firing facts, one ``seq k rule... matched...`` string each (the implode$ of one
    firing fact: a sequence number, k rule indices, then the fids matched), into one firing per
    rule, in order of first firing, the matched facts of all its activations unioned. A matched
    fid is a patient fact's number in ``fids`` or, negative, the fact derived by the rule of
    that :func:`~engine.backends.clips_compile.derived_number`; ``asserted`` gives, per rule,
    the fact it derives (if any)."""
    records = []
    for fact in facts:
        tokens = [int(t) for t in fact.split()]
        records.append((tokens[0], tokens[2 : 2 + tokens[1]], tokens[2 + tokens[1] :]))
    records.sort(key=lambda r: r[0])
    used: dict[int, set[str]] = {}
    for _, rules, matched in records:
        ids = {fids[m] if m >= 0 else derived_fid(rule_ids[-1 - m]) for m in matched}
        for rule in rules:
            if rule in used:
                used[rule] |= ids
            else:
                used[rule] = set(ids)
    return [
        Firing(rule_ids[rule], tuple(sorted(ids)), asserted[rule]) for rule, ids in used.items()
    ]


def compile(kb: KnowledgeBase) -> ClipsMatcher:  # noqa: A001 - the seam's verb (backends/base.py)
    return ClipsMatcher(kb)
