# SPDX-License-Identifier: Apache-2.0
"""Pydantic models of CDS Hooks 2.0 (https://cds-hooks.hl7.org/2.0/): discovery, request, cards.

The response models follow the specification's JSON rule: an optional field without a value is
omitted, never ``null`` (serialise with ``exclude_none=True``). The request models are strict
(no type coercion) so that a schema-violating request is refused, not silently repaired; unknown
top-level request fields are refused too, except ``extension``, which the specification reserves.
The card models also hold the specification's conditional rules (its invariants cds-resp-1 to
-6 in the HL7 CDS Hooks logical model): a card with suggestions has a ``selectionBehavior``; with
``at-most-one`` at most one suggestion is recommended; a ``create`` or ``update`` action carries
its resource and a ``delete`` action its ``resourceId``; ``appContext`` appears only on ``smart``
links; an override reason is a Coding with a ``display``; and no optional field is empty.
The tests validate every response of the service against these models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_OUT = ConfigDict(extra="forbid")
_IN = ConfigDict(extra="forbid", strict=True)

Indicator = Literal["info", "warning", "critical"]
INDICATOR_ORDER: tuple[str, ...] = ("info", "warning", "critical")
SUMMARY_LIMIT = 140  # the specification: "<140-character summary"


class Coding(BaseModel):
    """A CDS Hooks Coding: ``code`` and ``system`` required, ``display`` optional (a topic)."""

    model_config = _OUT
    code: str = Field(min_length=1)
    system: str = Field(min_length=1)
    display: str | None = Field(default=None, min_length=1)


class ReasonCoding(Coding):
    """An override reason: the specification requires a ``display`` the clinician can read."""

    display: str = Field(min_length=1)


class Source(BaseModel):
    model_config = _OUT
    label: str = Field(min_length=1)
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Action(BaseModel):
    """``create``/``update`` carry the whole FHIR resource; ``delete`` names its ``resourceId``."""

    model_config = _OUT
    type: Literal["create", "update", "delete"]
    description: str = Field(min_length=1)
    resource: dict[str, Any] | None = None
    resourceId: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _resource_matches_type(self) -> Action:
        if self.type in ("create", "update"):
            if not self.resource or not isinstance(self.resource.get("resourceType"), str):
                raise ValueError(f"a {self.type} action needs a FHIR resource")
        elif self.resourceId is None or self.resource is not None:
            raise ValueError("a delete action names its resourceId and carries no resource")
        return self


class Suggestion(BaseModel):
    model_config = _OUT
    label: str = Field(min_length=1)
    uuid: str | None = None
    isRecommended: bool | None = None
    actions: list[Action] | None = Field(default=None, min_length=1)


class Link(BaseModel):
    """``absolute`` links are opened as they are; ``appContext`` belongs to ``smart`` links."""

    model_config = _OUT
    label: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://\S+$")
    type: Literal["absolute", "smart"]
    appContext: str | None = None
    autolaunchable: bool | None = None

    @model_validator(mode="after")
    def _app_context_only_for_smart(self) -> Link:
        if self.appContext is not None and self.type != "smart":
            raise ValueError("appContext is only valid on a smart link")
        return self


class Card(BaseModel):
    """A CDS Hooks card: ``summary`` is one sentence shorter than 140 characters."""

    model_config = _OUT
    uuid: str | None = None
    summary: str = Field(min_length=1, max_length=SUMMARY_LIMIT - 1)
    detail: str | None = None
    indicator: Indicator
    source: Source
    suggestions: list[Suggestion] | None = Field(default=None, min_length=1)
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[ReasonCoding] | None = Field(default=None, min_length=1)
    links: list[Link] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _selection_rules(self) -> Card:
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("a card with suggestions needs a selectionBehavior")
        if self.selectionBehavior == "at-most-one" and self.suggestions:
            if sum(bool(s.isRecommended) for s in self.suggestions) > 1:
                raise ValueError("selectionBehavior at-most-one allows one recommended suggestion")
        return self


class CdsResponse(BaseModel):
    model_config = _OUT
    cards: list[Card]
    systemActions: list[Action] | None = Field(default=None, min_length=1)


class Service(BaseModel):
    """One entry of the discovery response."""

    model_config = _OUT
    hook: str
    title: str | None = None
    description: str
    id: str
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None


class Services(BaseModel):
    model_config = _OUT
    services: list[Service]


class FhirAuthorization(BaseModel):
    model_config = _IN
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str
    subject: str
    patient: str | None = None


class CdsRequest(BaseModel):
    """A hook call. ``context`` is checked per hook by the service, ``prefetch`` per key."""

    model_config = _IN
    hook: str
    hookInstance: str = Field(min_length=1)
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None


class AcceptedSuggestion(BaseModel):
    model_config = _IN
    id: str


class FeedbackCoding(BaseModel):
    """A reason as a client echoes it; a client may add reasons of its own, so only ``code`` is
    required (be lenient in what is accepted)."""

    model_config = _IN
    code: str
    system: str | None = None
    display: str | None = None


class OverrideReason(BaseModel):
    model_config = _IN
    reason: FeedbackCoding | None = None
    userComment: str | None = None


class FeedbackItem(BaseModel):
    model_config = _IN
    card: str
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: str


class Feedback(BaseModel):
    model_config = _IN
    feedback: list[FeedbackItem]


class FeedbackReceipt(BaseModel):
    """The service's answer to feedback (the specification defines no body; this one is small)."""

    model_config = _OUT
    received: int


class ErrorBody(BaseModel):
    """Every error answer: a code, a readable message and, for invalid input, the field path."""

    model_config = _OUT
    error: str
    message: str
    field: str | None = None
    missing: list[str] | None = None
