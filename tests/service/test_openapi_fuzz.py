# SPDX-License-Identifier: Apache-2.0
"""schemathesis against the service's own OpenAPI document, in process (ASGI): no 5xx, documented
status codes and content types, responses that match their schemas, schema-violating requests
refused. One check is left out: "schema-valid request accepted" (positive_data_acceptance) cannot
hold here, because a schema-valid body may still be clinically invalid facts (422) or lack the
required prefetch (412), which the contract and CDS Hooks require us to refuse."""

from __future__ import annotations

from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("fastapi")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

from engine.service.app import create_app  # noqa: E402
from engine.service.hooks import ServiceSettings  # noqa: E402

APP = create_app(ServiceSettings(workers=1))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()  # type: ignore[untyped-decorator]
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi(case: Any) -> None:
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
