"""A third-party delivery adapter, installed as its own package, buys a lead.

The package under tests/plugin_example has its own pyproject.toml and registers its adapter
under the `exchange.adapters` entry-point group. It is installed with pip into a folder of its
own and the exchange runs as its own process with that folder on its path: nothing in the
exchange names the plugin.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_KEY, auto_insurance_lead, bearer
from tests.processes import free_port, start_server, stop_server

PLUGIN = Path(__file__).resolve().parents[1] / "plugin_example"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("plugin-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(PLUGIN)],
        check=True,
        capture_output=True,
    )
    return target


def test_a_campaign_on_a_plugin_adapter_buys_a_lead(installed_plugin: Path, tmp_path: Path) -> None:
    port = free_port()
    leads_file = tmp_path / "bought.jsonl"
    server = start_server(
        f"sqlite:///{tmp_path / 'exchange.db'}",
        port,
        tmp_path / "server.log",
        PYTHONPATH=str(installed_plugin),
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=bearer(ADMIN_KEY), timeout=10) as api:
            publisher = api.post(
                "/v1/publishers", json={"name": "P", "payout": {"model": "revshare", "percent": 50}}
            )
            buyer = api.post("/v1/buyers", json={"name": "Plugged", "timezone": "UTC"}).json()
            api.post(f"/v1/buyers/{buyer['id']}/payments", json={"amount_cents": 10_000, "reference": "w1"})
            campaign = {
                "buyer_id": buyer["id"],
                "vertical": "auto_insurance",
                "pricing": {"model": "fixed", "cents_by_grade": {g: 1500 for g in "ABCD"}},
                "delivery": {"adapter": "jsonl", "path": str(leads_file)},
            }
            bad = api.post(
                "/v1/campaigns", json={**campaign, "delivery": {"adapter": "jsonl", "path": "rel"}}
            )
            created = api.post("/v1/campaigns", json=campaign)
            lead = api.post(
                "/v1/leads",
                params={"vertical": "auto_insurance"},
                json=auto_insurance_lead(),
                headers=bearer(publisher.json()["api_key"]),
            ).json()
    finally:
        stop_server(server)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "delivery.path"
    assert created.status_code == 201, created.text
    assert lead["status"] == "sold", lead
    [line] = leads_file.read_text().splitlines()
    written = json.loads(line)
    assert written["lead"]["lead_id"] == lead["lead_id"]
    assert written["key"].startswith("dlv")
