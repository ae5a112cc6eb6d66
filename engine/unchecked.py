# SPDX-License-Identifier: Apache-2.0
"""Output models built without re-validation, from data the engine has validated already.

An explanation builds about 200 frozen pydantic models per patient (evidence, trace entries,
fact references, derivation links), every field of which comes from the validated knowledge base,
the validated patient or the engine's own arithmetic. Validating them again cost about a sixth of
a differential's CPU: ``Model(**fields)`` takes about 2.3 us here, pydantic's ``model_construct``
2.6 us (it resolves defaults and aliases in Python), and filling the instance the way both of
them leave it about 0.7 us.

:func:`unchecked` does that, and refuses what validation would have caught cheaply: a field the
model does not have, or one it needs and was not given. It relies on how pydantic 2 lays out a
model instance (``__dict__``, ``__pydantic_fields_set__``, ``__pydantic_extra__``,
``__pydantic_private__``); a check at import builds one model both ways and, should a pydantic
release lay instances out differently, every call validates as before. The tests validate every
differential of the bundled cases again from its own JSON and compare (so a wrong type, which
this path does not catch, fails there).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

_set = object.__setattr__
#: Per model class: its field names in declaration order, and the defaults of the optional ones.
_LAYOUT: dict[type[BaseModel], tuple[tuple[str, ...], dict[str, Any]]] = {}


def _layout(cls: type[BaseModel]) -> tuple[tuple[str, ...], dict[str, Any]]:
    found = _LAYOUT.get(cls)
    if found is None:
        fields = cls.model_fields
        defaults = {n: f.default for n, f in fields.items() if not f.is_required()}
        found = _LAYOUT[cls] = (tuple(fields), defaults)
    return found


def _fill(cls: type[M], fields: dict[str, Any]) -> M:
    order, defaults = _LAYOUT.get(cls) or _layout(cls)
    if tuple(fields) != order:  # pydantic serialises __dict__ in its order: declaration order
        given = fields.keys()
        unknown = sorted(given - set(order))
        missing = sorted(set(order) - defaults.keys() - given)
        if unknown or missing:
            raise TypeError(f"{cls.__name__}: fields {unknown} unknown, {missing} missing")
        values = {n: fields[n] if n in fields else defaults[n] for n in order}
    else:
        values = fields
    model = cls.__new__(cls)
    _set(model, "__dict__", values)
    _set(model, "__pydantic_fields_set__", set(fields))
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model


def _works() -> bool:
    """Whether a filled instance is indistinguishable from a validated one in this pydantic."""

    class Probe(BaseModel):
        a: int
        b: list[str]
        c: str | None = None

    try:
        built, checked = _fill(Probe, {"a": 1, "b": ["x"]}), Probe(a=1, b=["x"])
        return (
            built == checked
            and built.model_dump_json() == checked.model_dump_json()
            and built.model_fields_set == checked.model_fields_set
            and built.model_copy(update={"c": "y"}).c == "y"
        )
    except Exception:  # noqa: BLE001 - any failure means: validate as before
        return False


_FAST = _works()


def unchecked(cls: type[M], **fields: Any) -> M:
    """``cls(**fields)`` without validating the values (see the module's docstring): only for
    values that are already of the field's type. Lists are stored as given, so pass a list no
    other object will change."""
    if _FAST:
        return _fill(cls, fields)
    return cls(**fields)
