"""The console end to end, in headless Chromium against a real `exchange serve` on SQLite.

One scenario, one step per test, in order, on one browser page: the operator watches a lead
posted through the API arrive in the flow, opens its timeline, reads why another lead went
unsold and pauses the campaign; the buyer files a return, the operator approves it; finance
downloads a settlement and opens it. Every step leaves a full-page screenshot in
test-artifacts/screenshots/, whether it passed or not.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_KEY, IN_CI, auto_insurance_lead, bearer
from tests.distribution.buyers import FakeBuyer, serve
from tests.processes import free_port, start_server, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# How long a page may take to show what a step waits for: the flow refreshes every 5 s.
WAIT_MS = 15_000
BID = 12.5


def chromium_or_skip() -> None:
    """Skip without Chromium or Playwright; under CI=true their absence fails instead."""
    problem = None
    if not CHROMIUM.exists():
        problem = f"no Chromium at {CHROMIUM} (Debian's `chromium`; `python3 dev.py test` installs it)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed (the `test` extras)"
    if problem is None:
        return
    if IN_CI:
        pytest.fail(f"{problem}, and CI needs it", pytrace=False)
    pytest.skip(problem)


@dataclass
class Scene:
    """What the steps share: the server, the accounts seeded through the API, and the browser page."""

    base: str
    page: Any
    publisher_key: str
    buyer_id: str
    buyer_key: str
    finance_key: str
    campaign_id: str
    found: dict[str, str] = field(default_factory=dict)

    def api(self, method: str, path: str, key: str = ADMIN_KEY, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.base}{path}", headers=bearer(key), timeout=30, **kwargs)

    def post_lead(self) -> str:
        answer = self.api(
            "POST",
            "/v1/leads",
            self.publisher_key,
            params={"vertical": "auto_insurance", "mode": "sync"},
            json=auto_insurance_lead(),
        )
        assert answer.status_code in (200, 201), answer.text
        return str(answer.json()["lead_id"])

    def sign_in(self, key: str, lands_on: str | None = None) -> None:
        """Sign out whoever is signed in, then sign in with `key` (landing on `lands_on`, if given)."""
        page = self.page
        if page.locator("#sign-out").count():
            page.click("#sign-out")
            page.wait_for_url("**/console/sign-in")
        page.goto(f"{self.base}/console/sign-in")
        page.fill("#api-key", key)
        page.click("#sign-in")
        if lands_on is None:
            page.wait_for_url(lambda url: "/console/sign-in" not in url)
        else:
            page.wait_for_url(f"**{lands_on}")


@contextmanager
def fake_buyers(*buyers: FakeBuyer) -> Iterator[None]:
    """`serve` from synchronous code: the buyers run on their own thread and loop regardless."""
    loop = asyncio.new_event_loop()
    running = serve(*buyers)
    try:
        loop.run_until_complete(running.__aenter__())
        try:
            yield
        finally:
            loop.run_until_complete(running.__aexit__(None, None, None))
    finally:
        loop.close()


def seed(base: str, buyer: FakeBuyer) -> dict[str, str]:
    """A publisher, a funded buyer whose one bid campaign takes a single lead a day, and finance."""

    def call(path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = httpx.post(f"{base}{path}", json=body, headers=bearer(ADMIN_KEY), timeout=30)
        assert answer.status_code in (200, 201), answer.text
        return dict(answer.json())

    publisher = call("/v1/publishers", {"name": "Acme Leads", "payout": {"model": "revshare", "percent": 70}})
    account = call("/v1/buyers", {"name": "Best Insurance", "timezone": "America/New_York"})
    call(f"/v1/buyers/{account['id']}/payments", {"amount_cents": 100_000, "reference": "wire-1"})
    campaign = call(
        "/v1/campaigns",
        {
            "buyer_id": account["id"],
            "vertical": "auto_insurance",
            "pricing": {"model": "bid", "floor_cents": 0},
            "caps": [{"period": "day", "max_leads": 1}],
            "return_window_hours": 72,
            "delivery": buyer.delivery(),
        },
    )
    finance = call("/v1/keys", {"role": "finance", "name": "books"})
    return {
        "publisher_key": publisher["api_key"],
        "buyer_id": account["id"],
        "buyer_key": account["api_key"],
        "finance_key": finance["api_key"],
        "campaign_id": campaign["id"],
    }


@pytest.fixture(scope="module")
def scene(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    chromium_or_skip()
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("browser-*.png"):
        old.unlink()
    workdir = tmp_path_factory.mktemp("browser")
    database = workdir / "exchange.db"
    database.write_bytes(sqlite_template.read_bytes())
    buyer = FakeBuyer(bid=BID)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with fake_buyers(buyer):
        server = start_server(f"sqlite:///{database}", port, workdir / "server.log")
        try:
            accounts = seed(base, buyer)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
                try:
                    context = browser.new_context(
                        accept_downloads=True, viewport={"width": 1280, "height": 900}
                    )
                    page = context.new_page()
                    page.set_default_timeout(WAIT_MS)
                    yield Scene(base=base, page=page, **accounts)
                finally:
                    browser.close()
        finally:
            stop_server(server)


@pytest.fixture(autouse=True)
def screenshot(scene: Scene, request: pytest.FixtureRequest) -> Iterator[None]:
    """A full-page screenshot of where each step left the page, passed or failed."""
    yield
    name = request.node.name.removeprefix("test_")
    scene.page.screenshot(path=str(SCREENSHOTS / f"browser-{name}.png"), full_page=True)


def test_1_a_lead_posted_through_the_api_appears_in_the_operators_flow(scene: Scene) -> None:
    page = scene.page
    scene.sign_in(ADMIN_KEY, "/console/flow")
    page.wait_for_selector("#flow-table")
    assert page.text_content("#account-role") == "operator"
    page.evaluate("window.notReloaded = true")

    lead_id = scene.post_lead()
    scene.found["sold"] = lead_id
    row = page.locator(f"#lead-{lead_id}")
    row.wait_for(state="visible")  # swapped in by the page's refresh, no reload
    assert page.evaluate("window.notReloaded === true")
    assert "sold" in row.inner_text().lower()
    assert scene.buyer_id in row.inner_text()
    assert "12.50" in row.inner_text()
    assert page.locator("#flow-counts").inner_text().strip() != "No leads in the last hour."


def test_2_the_leads_timeline_shows_its_bids_and_its_delivery(scene: Scene) -> None:
    page = scene.page
    lead_id = scene.found["sold"]
    page.click(f"#lead-{lead_id} a")
    page.wait_for_url(f"**/console/leads/{lead_id}")
    bids = page.locator("#auction-table tbody tr")
    assert bids.count() >= 1
    auction = page.inner_text("#auction-table")
    assert scene.campaign_id in auction and "12.50" in auction
    delivery = page.locator("#timeline .delivery").first
    assert delivery.is_visible()
    # The buyer's answer to the post, as it came back: accepted, with its reference.
    answers = page.locator("#timeline .delivery-response").all_inner_texts()
    assert any("ref-" in text and "ok" in text for text in answers), answers
    kinds = page.locator("#timeline [data-kind]").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert "sale" in kinds or "sold" in kinds, kinds


def test_3_why_not_sold_names_the_cap_that_stopped_the_campaign(scene: Scene) -> None:
    page = scene.page
    unsold = scene.post_lead()  # the campaign's one lead a day is taken
    scene.found["unsold"] = unsold
    page.goto(f"{scene.base}/console/leads/{unsold}/explain")
    page.wait_for_selector("#explain-table")
    row = page.locator(f"#explain-{scene.campaign_id}").first  # the dry run's verdict
    assert row.get_attribute("data-outcome") == "cap_full"
    verdict = row.inner_text().lower()
    assert "cap" in verdict and "day" in verdict, verdict


def test_4_pausing_a_campaign_flips_its_status(scene: Scene) -> None:
    page = scene.page
    campaign = scene.campaign_id
    page.goto(f"{scene.base}/console/campaigns")
    status = page.locator(f"#campaign-status-{campaign}")
    assert "active" in status.inner_text().lower()
    page.click(f"#pause-{campaign}")
    page.locator(f"#campaign-status-{campaign}", has_text="paused").wait_for()
    assert page.locator(f"#resume-{campaign}").is_visible()
    stored = scene.api("GET", f"/v1/campaigns/{campaign}")
    assert stored.json()["active"] is False


def test_5_the_buyer_files_a_return_that_shows_pending(scene: Scene) -> None:
    page = scene.page
    lead_id = scene.found["sold"]
    scene.sign_in(scene.buyer_key, "/console/leads")  # the buyer's leads, each with its return form
    form = page.locator(f"#return-form-{lead_id}")
    form.locator("[name=reason]").select_option("bad_phone")
    form.locator("[name=note]").fill("The number is disconnected.")
    form.locator("[type=submit]").click()
    page.wait_for_url("**/console/returns")
    status = page.locator("[id^=return-status-]").first
    assert "pending" in status.inner_text().lower()
    return_id = str(status.get_attribute("id")).removeprefix("return-status-")
    assert lead_id in page.inner_text(f"#return-{return_id}")
    scene.found["return"] = return_id


def test_6_the_operator_approves_the_return(scene: Scene) -> None:
    page = scene.page
    return_id = scene.found["return"]
    scene.sign_in(ADMIN_KEY, "/console/flow")
    page.goto(f"{scene.base}/console/returns")
    page.click(f"#approve-{return_id}")
    page.locator(f"#return-status-{return_id}", has_text="approved").wait_for()
    lead = scene.api("GET", f"/v1/leads/{scene.found['sold']}").json()
    assert [sale["returned"] for sale in lead["sales"]] == [True]


def test_7_finance_downloads_the_settlement_as_csv_and_opens_it(scene: Scene) -> None:
    page = scene.page
    scene.sign_in(scene.finance_key)
    page.goto(f"{scene.base}/console/money")
    today = datetime.now(UTC).date()
    form = page.locator("#settlement-form")
    form.locator("[name=since]").fill(today.isoformat())
    form.locator("[name=until]").fill(today.isoformat())
    form.locator("[type=submit]").click()
    page.wait_for_selector("#settlement-table")
    assert scene.buyer_id in page.inner_text("#settlement-table")

    with page.expect_download() as downloading:
        page.click("#download-csv")
    download = downloading.value
    path = download.path()
    assert path is not None and download.suggested_filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(Path(path).read_text(encoding="utf-8-sig"))))
    expected = scene.api(
        "GET",
        "/v1/settlements",
        scene.finance_key,
        params={"since": today.isoformat(), "until": today.isoformat(), "format": "json"},
    ).json()
    assert rows[0] == list(expected["rows"][0]), rows[0]
    by_account = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert by_account[scene.buyer_id]["gross_cents"] == "1250"
    assert {row[1] for row in rows[1:] if row[0] == "TOTAL"} >= {"buyer", "publisher"}


def test_screenshots_are_kept_where_ci_collects_them(scene: Scene) -> None:
    kept = sorted(p.name for p in SCREENSHOTS.glob("browser-*.png"))
    assert "browser-1_a_lead_posted_through_the_api_appears_in_the_operators_flow.png" in kept
    assert all(os.path.getsize(SCREENSHOTS / name) > 0 for name in kept)
