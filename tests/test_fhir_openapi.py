"""The non-FHIR JSON endpoints (SMART discovery, OAuth token and revocation) against their
OpenAPI description, fuzzed by schemathesis over HTTP on a live server on 127.0.0.1: never a
server error, never an answer off its schema, status, headers or content type."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.django_db(transaction=True)
EXAMPLES = 40
# A schema-valid token request is still refused when its code or secret is wrong: OAuth's
# own errors are described, so only "accepted when valid" is left out of the checks.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def test_oauth_endpoints_keep_to_their_description(live_server):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/fhir/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {
        "/.well-known/smart-configuration",
        "/fhir/oauth/token/",
        "/fhir/oauth/revoke/",
    }
    checked = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def fuzz(case):
            response = case.call_and_validate(base_url=live_server.url, checks=CHECKS)
            checked.append(response.status_code)

        fuzz()
    assert len(checked) >= len(operations) and all(code < 500 for code in checked)
