# SPDX-License-Identifier: Apache-2.0
"""FHIR R4 in: Bundles, resource lists, NDJSON and CDS Hooks prefetch maps become contract facts.

A wing below the api (``diagnose()`` accepts FHIR directly): :mod:`engine.fhir.convert` assembles
the patient, :mod:`engine.fhir.read` reads single resources (:mod:`engine.fhir.medication` the
medication ones), :mod:`engine.fhir.terms` holds the code tables of ``rules/terminology/fhir.yaml``
and the RxNorm codes the drug lexicon knows.
"""

from engine.fhir.convert import FhirConversion, from_fhir, is_fhir, parse_ndjson

__all__ = ["FhirConversion", "from_fhir", "is_fhir", "parse_ndjson"]
