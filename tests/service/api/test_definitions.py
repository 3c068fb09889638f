"""The contexts and schemas every credential names, served at the paths of their URLs (issue 17)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from tests.service.conftest import Api, assert_problem
from verifier.contexts import SUIXIN_CONTEXT, SUIXIN_CONTEXT_V1, context_bytes
from verifier.schemas import CREDENTIAL_TYPES, load_schema, schema_id


def test_each_context_a_credential_names_is_served_byte_for_byte(api: Api) -> None:
    issued = api.issue({"type": "ResidencePermit", "subject": api.permit()})
    assert issued.status_code == 201, issued.text
    credential = issued.json()["credential"]
    assert SUIXIN_CONTEXT in credential["@context"]
    for url in (SUIXIN_CONTEXT, SUIXIN_CONTEXT_V1):
        response = api.client.get(urlsplit(url).path)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/ld+json"
        assert "immutable" in response.headers["cache-control"]
        assert response.content == context_bytes(url)


def test_each_schema_is_served_at_its_id(api: Api) -> None:
    for credential_type in CREDENTIAL_TYPES:
        response = api.client.get(urlsplit(schema_id(credential_type)).path)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/schema+json"
        served = json.loads(response.content)
        assert served == load_schema(credential_type)
        assert served["$id"] == schema_id(credential_type)


def test_an_unknown_context_or_schema_is_a_404(api: Api) -> None:
    for path in ("/contexts/v3", "/contexts/vocab", "/credentials/Passport/v1.json"):
        problem = assert_problem(api.client.get(path), 404)
        assert problem["code"] == "not_found", problem
