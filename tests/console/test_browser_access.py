"""The console is accessible and fits a phone: axe-core, the phone's width and the keyboard, in Chromium.

One `exchange serve` on SQLite with a small marketplace seeded through the API (two leads sold,
one returned, one unsold). For each role, signed in through the sign-in form, every page its
navigation links to and the detail pages it may open (a lead, why it sold or not, a campaign's
form, an account) are loaded at a laptop's width (1280x900) and a phone's (390x844); on each,
axe-core must find nothing of impact moderate or worse, and at the phone's width the page itself
must not scroll sideways (a wide table scrolls inside its own `.scroll` box instead). The
keyboard must reach "Skip to content" first, then every link of the header and "Sign out", each
with a visible focus indicator; the campaign form must tie an error to the field it names.
Every page leaves a full-page screenshot at the phone's width in test-artifacts/screenshots/,
named access-<role>-<page>-phone.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import ADMIN_KEY, IN_CI, auto_insurance_lead, bearer
from tests.console.test_browser import (
    CHROMIUM,
    SCREENSHOTS,
    WAIT_MS,
    Scene,
    chromium_or_skip,
    fake_buyers,
    seed,
)
from tests.distribution.buyers import FakeBuyer
from tests.processes import free_port, start_server, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]

LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = {"laptop": LAPTOP, "phone": PHONE}
# Every axe finding fails, down to "minor" ones (an empty table header, say).
FAILING_IMPACTS = {"minor", "moderate", "serious", "critical"}
# Rules whose findings are not failures here, each with why. None so far.
EXCLUDED_RULES: dict[str, str] = {}
# axe's defaults, and WCAG 2.2's target size (24px, or room around), which axe leaves off: on a
# phone, every link and button must be a target a finger can take.
AXE_OPTIONS = {"resultTypes": ["violations"], "rules": {"target-size": {"enabled": True}}}
ROLES = ("operator", "finance", "publisher", "buyer")
# The page of each role whose keyboard order is checked: one with forms in its content.
KEYBOARD_PAGE = {
    "operator": "/console/campaigns",
    "finance": "/console/money",
    "publisher": "/console/leads",
    "buyer": "/console/leads",
}


@dataclass
class Site:
    """The server, its seeded accounts and leads, and one browser page shared by every test."""

    scene: Scene
    sold: str  # sold, and still the buyer's to return
    returned: str  # sold, then returned by the buyer: pending the operator's decision
    unsold: str  # offered when the campaign's day cap was full

    @property
    def base(self) -> str:
        return self.scene.base

    @property
    def page(self) -> Any:
        return self.scene.page

    def key_of(self, role: str) -> str:
        return {
            "operator": ADMIN_KEY,
            "finance": self.scene.finance_key,
            "publisher": self.scene.publisher_key,
            "buyer": self.scene.buyer_key,
        }[role]


def _api(base: str, method: str, path: str, key: str = ADMIN_KEY, **kwargs: Any) -> dict[str, Any]:
    answer = httpx.request(method, f"{base}{path}", headers=bearer(key), timeout=30, **kwargs)
    assert answer.status_code in (200, 201), answer.text
    return dict(answer.json())


def _post_lead(base: str, publisher_key: str) -> dict[str, Any]:
    return _api(
        base,
        "POST",
        "/v1/leads",
        publisher_key,
        params={"vertical": "auto_insurance", "mode": "sync"},
        json=auto_insurance_lead(),
    )


@pytest.fixture(scope="module")
def site(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    chromium_or_skip()
    try:
        import axe_playwright_python  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("axe-playwright-python is not installed (the `test` extras)", pytrace=False)
        pytest.skip("axe-playwright-python is not installed (the `test` extras)")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("access-*.png"):  # this module's own; test_browser.py keeps browser-*
        old.unlink()
    workdir = tmp_path_factory.mktemp("browser-access")
    database = workdir / "exchange.db"
    database.write_bytes(sqlite_template.read_bytes())
    buyer = FakeBuyer(bid=12.5)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with fake_buyers(buyer):
        server = start_server(f"sqlite:///{database}", port, workdir / "server.log")
        try:
            accounts = seed(base, buyer)
            campaign = f"/v1/campaigns/{accounts['campaign_id']}"
            # Two sales today (the seeded cap takes one a day), then the cap is full for the third.
            _api(base, "PATCH", campaign, json={"caps": [{"period": "day", "max_leads": 2}]})
            leads = [_post_lead(base, accounts["publisher_key"]) for _ in range(2)]
            assert [lead["status"] for lead in leads] == ["sold", "sold"], leads
            unsold = _post_lead(base, accounts["publisher_key"])
            assert unsold["status"] != "sold", unsold
            returned = str(leads[1]["lead_id"])
            _api(
                base,
                "POST",
                f"/v1/leads/{returned}/returns",
                accounts["buyer_key"],
                json={"reason": "bad_phone", "note": "Disconnected."},
            )
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
                try:
                    context = browser.new_context(viewport=LAPTOP)
                    page = context.new_page()
                    page.set_default_timeout(WAIT_MS)
                    yield Site(
                        scene=Scene(base=base, page=page, **accounts),
                        sold=str(leads[0]["lead_id"]),
                        returned=returned,
                        unsold=str(unsold["lead_id"]),
                    )
                finally:
                    browser.close()
        finally:
            stop_server(server)


def _axe_problems(page: Any, where: str) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    problems = []
    for violation in Axe().run(page, options=AXE_OPTIONS).response["violations"]:
        if violation["impact"] not in FAILING_IMPACTS or violation["id"] in EXCLUDED_RULES:
            continue
        targets = "; ".join(
            " ".join(node["target"]) + f" ({node['failureSummary'].splitlines()[-1].strip()})"
            for node in violation["nodes"][:6]
        )
        more = f" and {len(violation['nodes']) - 6} more" if len(violation["nodes"]) > 6 else ""
        problems.append(
            f"{where}: axe {violation['id']} [{violation['impact']}] {violation['help']}: {targets}{more}"
        )
    return problems


# The elements that stick out past the viewport's right edge, not inside a box that scrolls.
_OVERFLOWING = """() => {
  const width = window.innerWidth;
  const out = [];
  const sticks = (el) => {
    if (el.parentElement && el.parentElement.closest(".scroll")) return false;
    const box = el.getBoundingClientRect();
    const spills = getComputedStyle(el).overflowX === "visible" && box.left + el.scrollWidth > width + 1;
    return box.right > width + 1 || spills;
  };
  for (const el of document.body.querySelectorAll("*")) {
    if (!sticks(el) || [...el.children].some(sticks)) continue;
    const box = el.getBoundingClientRect();
    const classes = typeof el.className === "string" ? el.className.trim().split(/\\s+/) : [];
    const name = [el.tagName.toLowerCase() + (el.id ? "#" + el.id : ""), ...classes].join(".");
    out.push(name.replace(/\\.$/, "") + " right=" + Math.round(box.right));
  }
  return out.slice(0, 8);
}"""


def check_page(site: Site, role: str, name: str, url: str, status: int = 200) -> list[str]:
    """axe at both widths, no sideways scroll on the phone, and the phone's screenshot."""
    page = site.page
    problems: list[str] = []
    for viewport, size in VIEWPORTS.items():
        page.set_viewport_size(size)
        answer = page.goto(url)
        where = f"{role} {name} ({urlsplit(url).path}) at {viewport} {size['width']}x{size['height']}"
        if answer is None or answer.status != status:
            problems.append(f"{where}: answered {answer.status if answer else 'nothing'}, not {status}")
        problems += _axe_problems(page, where)
        if viewport == "phone":
            scroll_width, inner_width = page.evaluate(
                "[document.documentElement.scrollWidth, window.innerWidth]"
            )
            if scroll_width > inner_width + 1:
                problems.append(
                    f"{where}: the page scrolls sideways ({scroll_width}px wide in {inner_width}px); "
                    f"sticking out: {page.evaluate(_OVERFLOWING)}"
                )
            page.screenshot(path=str(SCREENSHOTS / f"access-{role}-{name}-phone.png"), full_page=True)
    page.set_viewport_size(LAPTOP)
    return problems


def sign_out(site: Site) -> None:
    page = site.page
    if page.locator("#sign-out").count():
        page.click("#sign-out")
        page.wait_for_url("**/console/sign-in")


def _page_name(path: str, account_path: str | None) -> str:
    if path == account_path:
        return "account"
    return path.removeprefix("/console/").strip("/").replace("/", "-") or "home"


def pages_of(site: Site, role: str) -> list[tuple[str, str, int]]:
    """(name, address, status) of every page the role's navigation links to, then its detail pages."""
    hrefs = site.page.locator("nav#nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    # A publisher's and a buyer's "My account": /console/accounts/<its id>.
    account_path = next((h for h in hrefs if h.startswith("/console/accounts/")), None)
    if role in ("publisher", "buyer"):
        assert account_path is not None, f"{role}'s navigation has no link to its own account: {hrefs}"
    found = [(_page_name(h, account_path), h) for h in hrefs if h != "/schema"]
    assert found, hrefs
    # A lead the role may see: a buyer sees only what it bought.
    lead = site.sold if role == "buyer" else site.unsold
    found += [("lead", f"/console/leads/{site.sold}"), ("explain", f"/console/leads/{lead}/explain")]
    if role in ("operator", "buyer"):
        campaign = site.scene.campaign_id
        found += [("campaign", f"/console/campaigns/{campaign}"), ("campaign-new", "/console/campaigns/new")]
    if role in ("operator", "finance"):
        found += [("account", f"/console/accounts/{site.scene.buyer_id}")]
    unique: dict[str, str] = {}
    for name, path in found:
        unique.setdefault(path, name)
    pages = [(name, f"{site.base}{path}", 200) for path, name in unique.items()]
    if role == "operator":  # the error page, as a wrong address shows it
        pages.append(("not-found", f"{site.base}/console/leads/lead_nonesuch", 404))
    return pages


@pytest.mark.parametrize("role", ROLES)
def test_every_page_of_each_role_passes_axe_and_fits_a_phone(site: Site, role: str) -> None:
    page = site.page
    sign_out(site)
    problems = check_page(site, role, "sign-in", f"{site.base}/console/sign-in")
    if role == "operator":  # the form as it comes back with a problem, tied to its field
        page.fill("#api-key", "not-a-key")
        page.click("#sign-in")
        page.wait_for_selector("#sign-in-problem")
        assert page.get_attribute("#api-key", "aria-invalid") == "true"
        problems += _axe_problems(page, "sign-in with a wrong key at laptop")
    site.scene.sign_in(site.key_of(role))
    assert page.text_content("#account-role") == role

    pages = pages_of(site, role)
    for name, url, status in pages:
        problems += check_page(site, role, name, url, status)
    assert not problems, f"{len(problems)} problems on {len(pages) + 1} pages:\n" + "\n".join(problems)
    shots = {p.name for p in SCREENSHOTS.glob(f"access-{role}-*-phone.png")}
    assert {f"access-{role}-{name}-phone.png" for name, _, _ in pages} <= shots


_FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  return {
    tag: el.tagName.toLowerCase(), id: el.id, text: (el.innerText || el.value || "").trim().slice(0, 40),
    href: el.getAttribute("href"), inHeader: !!el.closest("header"),
    outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0,
    shadow: style.boxShadow !== "none",
    box: [box.left, box.top, box.right, box.bottom], width: innerWidth, height: innerHeight,
  };
}"""


def _visible_in_viewport(focused: dict[str, Any]) -> bool:
    left, top, right, bottom = focused["box"]
    return (
        right - left > 0
        and bottom - top > 0
        and left >= 0
        and top >= 0
        and right <= focused["width"]
        and bottom <= focused["height"]
    )


@pytest.mark.parametrize("role", ROLES)
def test_the_keyboard_skips_to_content_then_reaches_the_header_in_order(site: Site, role: str) -> None:
    page = site.page
    sign_out(site)
    site.scene.sign_in(site.key_of(role))
    url = f"{site.base}{KEYBOARD_PAGE[role]}"
    for viewport, size in VIEWPORTS.items():
        page.set_viewport_size(size)
        page.goto(url)
        # The header's links and "Sign out", in document order: what Tab must reach after the skip link.
        expected = page.locator("header a[href], header button").evaluate_all(
            "els => els.map(e => e.id || e.getAttribute('href'))"
        )
        nav = page.locator("nav#nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
        assert "sign-out" in expected and nav and set(nav) <= set(expected), (expected, nav)
        page.keyboard.press("Tab")
        skip = page.evaluate(_FOCUSED)
        assert skip is not None and skip["text"] == "Skip to content", (viewport, skip)
        assert _visible_in_viewport(skip), f"the focused skip link is not in view at {viewport}: {skip}"
        assert skip["outline"] or skip["shadow"], skip
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.matches('main#main')"), viewport

        page.goto(url)
        page.keyboard.press("Tab")  # the skip link again
        reached: list[dict[str, Any]] = []
        for _ in range(len(expected) + 20):
            page.keyboard.press("Tab")
            focused = page.evaluate(_FOCUSED)
            if focused is None:  # past the page's last control, to the browser's own
                break
            reached.append(focused)
            if len([f for f in reached if not f["inHeader"]]) >= 8:  # a sample of the content too
                break
        in_header = [f["id"] or f["href"] for f in reached if f["inHeader"]]
        assert in_header == expected, f"at {viewport}, Tab reached {in_header}, not {expected}"
        assert [f["inHeader"] for f in reached[: len(expected)]] == [True] * len(expected), reached
        unmarked = [f for f in reached if not (f["outline"] or f["shadow"])]
        assert not unmarked, f"at {viewport}, focused with no visible focus indicator: {unmarked}"
        hidden = [f for f in reached if not (f["box"][2] - f["box"][0] > 0 and f["box"][3] - f["box"][1] > 0)]
        assert not hidden, f"at {viewport}, focus landed on something not shown: {hidden}"
    page.set_viewport_size(LAPTOP)


def test_a_campaign_forms_error_is_shown_beside_its_field_and_tied_to_it(site: Site) -> None:
    from playwright.sync_api import expect

    page = site.page
    sign_out(site)
    site.scene.sign_in(site.scene.buyer_key)
    campaign = site.scene.campaign_id
    before = site.scene.api("GET", f"/v1/campaigns/{campaign}").json()
    page.goto(f"{site.base}/console/campaigns/{campaign}")
    field = page.locator('[name="caps[0].max_leads"]')
    field.fill("-3")
    with page.expect_response(lambda r: r.request.method == "POST") as answered:
        page.click("#save-campaign")
    assert answered.value.status == 422
    page.wait_for_load_state()

    field = page.locator('[name="caps[0].max_leads"]')
    assert field.input_value() == "-3"  # as typed, to correct
    error = page.locator('.problem[data-field="caps[0].max_leads"]')
    assert error.count() == 1 and error.is_visible()
    assert ">= 0" in error.inner_text(), error.inner_text()
    # Beside its field: in the same table cell, right after it.
    assert field.evaluate("(input, text) => input.nextElementSibling === text", error.element_handle())
    assert field.get_attribute("aria-invalid") == "true"
    described = (field.get_attribute("aria-describedby") or "").split()
    error_id = error.get_attribute("id")
    assert error_id and error_id in described, (described, error_id)
    # What a screen reader announces on the field: its name, then the error as its description.
    expect(field).to_have_accessible_name("Cap 1 max leads")
    expect(field).to_have_accessible_description(error.inner_text())
    # The other fields are not marked.
    assert page.locator("[aria-invalid=true]").count() == 1
    problems = []
    for viewport, size in VIEWPORTS.items():
        page.set_viewport_size(size)
        problems += _axe_problems(page, f"buyer campaign form with an error at {viewport}")
    page.screenshot(path=str(SCREENSHOTS / "access-buyer-campaign-error-phone.png"), full_page=True)
    page.set_viewport_size(LAPTOP)
    assert not problems, "\n".join(problems)
    after = site.scene.api("GET", f"/v1/campaigns/{campaign}").json()
    assert after["caps"] == before["caps"]


def test_an_operator_makes_a_publisher_on_a_phone_and_its_key_is_shown_once(site: Site) -> None:
    """The Accounts form at a phone's width: a mistake comes back marked, then the new account's
    key is shown on a page that passes axe and works against the API."""
    from playwright.sync_api import expect

    page = site.page
    sign_out(site)
    site.scene.sign_in(ADMIN_KEY)
    page.set_viewport_size(PHONE)
    try:
        page.goto(f"{site.base}/console/accounts")
        form = page.locator("#new-publisher-form")
        form.locator('[name="name"]').fill("Phone Leads")
        form.locator('[name="payout.percent"]').fill("140")
        form.locator("#create-publisher").click()
        field = page.locator("#np-payout\\.percent")
        field.wait_for()
        assert field.get_attribute("aria-invalid") == "true"
        expect(field).to_have_accessible_description(page.locator("#err-payout\\.percent").inner_text())
        problems = _axe_problems(page, "accounts form with an error at phone")

        field.fill("65")
        page.locator("#create-publisher").click()
        page.wait_for_selector("#new-api-key")
        key = page.input_value("#new-api-key")
        problems += _axe_problems(page, "the new key's page at phone")
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1] + 1, width
        page.screenshot(path=str(SCREENSHOTS / "access-operator-key-shown-phone.png"), full_page=True)
        assert not problems, "\n".join(problems)
        me = site.scene.api("GET", "/v1/me", key)
        assert me.status_code == 200 and me.json()["role"] == "publisher"
        # Gone once left: the account's page lists the key by id only.
        page.click("#new-account-id a")
        page.wait_for_selector("#keys-table")
        assert key not in page.content()
    finally:
        page.set_viewport_size(LAPTOP)


def test_a_hosted_lead_form_passes_axe_and_fits_a_phone_empty_and_with_its_errors(site: Site) -> None:
    """The page consumers fill in, most of them on a phone: as it opens, and sent back incomplete."""
    page = site.page
    publisher = site.scene.api("GET", "/v1/me", site.scene.publisher_key).json()["publisher_id"]
    url = f"{site.base}/forms/{publisher}/auto_insurance"
    problems = check_page(site, "consumer", "hosted-form", url)
    page.set_viewport_size(PHONE)
    try:
        page.goto(url)
        page.locator("form [type=submit]").first.click()  # nothing filled in
        page.wait_for_load_state()
        problems += _axe_problems(page, "hosted form sent back incomplete at phone")
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1] + 1, width
        page.screenshot(
            path=str(SCREENSHOTS / "access-consumer-hosted-form-errors-phone.png"), full_page=True
        )
    finally:
        page.set_viewport_size(LAPTOP)
    assert not problems, "\n".join(problems)


def test_the_campaign_form_shows_the_parts_its_choices_use_and_creates_from_plain_fields(site: Site) -> None:
    page = site.page
    sign_out(site)
    site.scene.sign_in(site.scene.buyer_key)
    seeded = site.scene.api("GET", f"/v1/campaigns/{site.scene.campaign_id}").json()
    post_url = seeded["delivery"]["post"]["url"]
    page.goto(f"{site.base}/console/campaigns/new")
    visible = {part: page.locator(f"#{part}").is_visible() for part in ("delivery-http", "delivery-email")}
    assert visible == {"delivery-http": True, "delivery-email": False}
    assert page.locator("#pricing-fixed").is_visible() and not page.locator("#pricing-bid").is_visible()
    assert not page.locator("#delivery-ping").is_visible()  # fixed pricing sends no ping
    page.select_option("#f-pricing\\.model", "bid")
    assert page.locator("#delivery-ping").is_visible() and page.locator("#pricing-bid").is_visible()
    page.select_option("#f-delivery\\.kind", "email")
    assert page.locator("#delivery-email").is_visible() and not page.locator("#delivery-http").is_visible()

    page.select_option("#f-pricing\\.model", "fixed")
    page.select_option("#f-delivery\\.kind", "http")
    page.fill("#f-name", "Made in the browser")
    page.fill("#f-pricing\\.cents_by_grade\\.A", "900")
    page.fill("#f-delivery\\.post\\.url", post_url)
    page.fill("#f-delivery\\.post\\.response\\.accepted\\.path", "status")
    page.fill("#f-delivery\\.post\\.response\\.accepted\\.equals", "ok")
    page.click("#save-campaign")
    page.wait_for_url("**/console/campaigns/cmp_*")
    made = site.scene.api("GET", f"/v1/campaigns/{page.url.rsplit('/', 1)[1]}").json()
    assert made["name"] == "Made in the browser" and made["pricing"]["cents_by_grade"] == {"A": 900}
    assert made["delivery"]["post"] == {
        "url": post_url,
        "format": "json",
        "response": {"format": "json", "accepted": {"path": "status", "equals": "ok"}},
    }
    # It must not buy the leads the other tests count on.
    site.scene.api("DELETE", f"/v1/campaigns/{made['id']}")
