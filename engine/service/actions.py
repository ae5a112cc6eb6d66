# SPDX-License-Identifier: Apache-2.0
"""What a clinician can do from a card: order a CBC with differential, or override the card.

* :func:`order_cbc` is the card suggestion to order a complete blood count with automated
  differential: one ``create`` action holding a draft FHIR R4 ServiceRequest coded with LOINC
  57021-8 "CBC W Auto Differential panel - Blood" (the code of HL7 mCODE's
  CBCWAutoDifferentialPanel profile), for the patient of the hook. It is offered when the latest
  count is stale or no ANC is on file, because the ANC (from the differential) is what every
  neutropenia threshold and drug-monitoring rule reads.
* :data:`OVERRIDE_REASONS` are the reasons offered when a card is dismissed (CDS Hooks
  ``overrideReasons``: Codings, each with a ``display``). The code system is leukodx's own;
  docs/cds-hooks.md lists the codes under "Override reasons".
"""

from __future__ import annotations

import uuid
from typing import Any

from engine.service.models import Action, ReasonCoding, Suggestion

LOINC = "http://loinc.org"
CBC_DIFF_CODE = "57021-8"
CBC_DIFF_DISPLAY = "CBC W Auto Differential panel - Blood"
CBC_DIFF_TEXT = "CBC with differential"

OVERRIDE_SYSTEM = "https://github.com/leukodx/leukodx/blob/main/docs/cds-hooks.md#override-reasons"
OVERRIDE_REASONS: tuple[ReasonCoding, ...] = tuple(
    ReasonCoding(system=OVERRIDE_SYSTEM, code=code, display=display)
    for code, display in (
        ("already-addressed", "Already addressed: count repeated, drug held or stopped"),
        ("newer-results", "Newer results exist than the ones this card used"),
        ("data-error", "The data behind this card are wrong (result, date or medication)"),
        ("benefit-outweighs-risk", "Clinical judgement: the benefit outweighs the risk"),
        ("patient-declined", "Patient declined"),
    )
)


def cbc_request(patient_id: str, reason: str, *, urgent: bool = False) -> dict[str, Any]:
    """A draft FHIR R4 ServiceRequest for a CBC with automated differential."""
    return {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "priority": "urgent" if urgent else "routine",
        "code": {
            "coding": [{"system": LOINC, "code": CBC_DIFF_CODE, "display": CBC_DIFF_DISPLAY}],
            "text": CBC_DIFF_TEXT,
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "reasonCode": [{"text": reason}],
    }


def order_cbc(patient_id: str, reason: str, *, urgent: bool = False) -> Suggestion:
    """The suggestion to order a CBC with differential (one ``create`` action), recommended."""
    request = cbc_request(patient_id, reason, urgent=urgent)
    return Suggestion(
        label=f"Order a {CBC_DIFF_TEXT}" + (" (urgent)" if urgent else ""),
        uuid=str(uuid.uuid4()),
        isRecommended=True,
        actions=[
            Action(
                type="create",
                description=f"Create a draft order for a {CBC_DIFF_TEXT} "
                f"(LOINC {CBC_DIFF_CODE} {CBC_DIFF_DISPLAY})",
                resource=request,
            )
        ],
    )
