"""What the spec promises about input and answers, held by the server itself: JSON bodies read as
their schema says, OPTIONS naming every method of a path, bounds the spec states."""

from __future__ import annotations

from tests.conftest import Market


async def test_a_json_body_is_read_as_its_schema_says_not_coerced(market: Market) -> None:
    buyer = await market.buyer()
    for loose in ({"amount_cents": "500", "reference": "w-1"}, {"amount_cents": 500, "reference": 7}):
        answer = await market.client.post(f"/v1/buyers/{buyer.id}/payments", json=loose, headers=market.admin)
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] in ("amount_cents", "reference")
    answer = await market.client.put(
        "/v1/verticals/auto_insurance/distribution", json={"require_consent": 0}, headers=market.admin
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "require_consent"


async def test_a_whole_number_written_with_a_fraction_is_an_integer(market: Market) -> None:
    buyer = await market.buyer()
    answer = await market.client.post(
        f"/v1/buyers/{buyer.id}/payments",
        json={"amount_cents": 500.0, "reference": "w-2"},
        headers=market.admin,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["balance_cents"] == 500


async def test_options_names_every_method_of_the_path(market: Market) -> None:
    answer = await market.client.options("/v1/campaigns", headers=market.admin)
    assert answer.status_code == 204
    assert answer.headers["allow"] == "GET, OPTIONS, POST"
    answer = await market.client.options("/v1/campaigns/cmp_x", headers=market.admin)
    assert answer.headers["allow"] == "DELETE, GET, OPTIONS, PATCH"


async def test_the_spec_states_the_bounds_the_server_enforces(market: Market) -> None:
    spec = (await market.client.get("/schema/openapi.json")).json()
    parameters = {p["name"]: p for p in spec["paths"]["/v1/ledger/entries"]["get"]["parameters"]}
    [cursor] = [s for s in parameters["cursor"]["schema"]["oneOf"] if s["type"] == "integer"]
    assert cursor["minimum"] == 0  # a bound of 0 the framework would drop
    path = spec["paths"]["/v1/leads/{lead_id}"]["get"]["parameters"][0]
    assert path["in"] == "path" and path["schema"]["minLength"] == 1
    distribution = spec["components"]["schemas"]["Distribution"]["properties"]
    assert (distribution["ping_timeout_ms"]["minimum"], distribution["ping_timeout_ms"]["maximum"]) == (
        50,
        30000,
    )
    answer = await market.client.put(
        "/v1/verticals/auto_insurance/distribution", json={"ping_timeout_ms": 49}, headers=market.admin
    )
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "ping_timeout_ms"
    assert spec["components"]["schemas"]["PullIn"]["additionalProperties"] is False
