# SPDX-License-Identifier: Apache-2.0
"""Pydantic models of CDS Hooks 2.0 (https://cds-hooks.hl7.org/2.0/): discovery, request, cards.

The response models follow the specification's JSON rule: an optional field without a value is
omitted, never ``null`` (serialise with ``exclude_none=True``). The request models are strict
(no type coercion) so that a schema-violating request is refused, not silently repaired; unknown
top-level request fields are refused too, except ``extension``, which the specification reserves.
The tests validate every response of the service against these models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_OUT = ConfigDict(extra="forbid")
_IN = ConfigDict(extra="forbid", strict=True)

Indicator = Literal["info", "warning", "critical"]
INDICATOR_ORDER: tuple[str, ...] = ("info", "warning", "critical")
SUMMARY_LIMIT = 140  # the specification: "<140-character summary"


class Coding(BaseModel):
    model_config = _OUT
    code: str
    system: str | None = None
    display: str | None = None


class Source(BaseModel):
    model_config = _OUT
    label: str = Field(min_length=1)
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Action(BaseModel):
    model_config = _OUT
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resourceId: str | None = None


class Suggestion(BaseModel):
    model_config = _OUT
    label: str
    uuid: str | None = None
    isRecommended: bool | None = None
    actions: list[Action] | None = None


class Link(BaseModel):
    model_config = _OUT
    label: str
    url: str
    type: Literal["absolute", "smart"]
    appContext: str | None = None


class Card(BaseModel):
    """A CDS Hooks card: ``summary`` is one sentence shorter than 140 characters."""

    model_config = _OUT
    uuid: str | None = None
    summary: str = Field(min_length=1, max_length=SUMMARY_LIMIT - 1)
    detail: str | None = None
    indicator: Indicator
    source: Source
    suggestions: list[Suggestion] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] | None = None
    links: list[Link] | None = None


class CdsResponse(BaseModel):
    model_config = _OUT
    cards: list[Card]
    systemActions: list[Action] | None = None


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


class OverrideReason(BaseModel):
    model_config = _IN
    reason: Coding | None = None
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
