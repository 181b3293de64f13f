"""The committed spec is what the app serves: regenerate with `exchange openapi` when it changes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Market

SPEC = Path(__file__).parents[1] / "openapi" / "openapi.json"


async def test_committed_spec_matches_the_served_spec(market: Market) -> None:
    served = (await market.client.get("/schema/openapi.json")).json()
    committed = json.loads(SPEC.read_text())
    assert served == committed, "openapi/openapi.json is stale: run `exchange openapi`"


async def test_spec_documents_the_lead_intake_formats(market: Market) -> None:
    spec = json.loads(SPEC.read_text())
    content = spec["paths"]["/v1/leads"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded", "application/xml"} <= set(content)
    responses = spec["paths"]["/v1/leads"]["post"]["responses"]
    assert {"201", "202", "409", "422", "413"} <= set(responses)


async def test_documentation_page_is_served(market: Market) -> None:
    page = await market.client.get("/schema")
    assert page.status_code == 200
    assert "<html" in page.text.lower()


def test_every_operation_documents_its_errors_as_the_contract_shapes_them() -> None:
    spec = json.loads(SPEC.read_text())
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if not path.startswith("/v1/"):
                assert operation.get("security") == [{}], (method, path)  # no key needed
                continue
            responses = operation["responses"]
            for code in ("401", "403", "429"):
                assert responses[code]["content"]["application/json"]["schema"] == error, (method, path, code)
            if "{" in path:
                assert "404" in responses, (method, path)
            framework = (
                responses.get("400", {}).get("content", {}).get("application/json", {}).get("schema", {})
            )
            assert "status_code" not in framework.get("properties", {}), (method, path)
