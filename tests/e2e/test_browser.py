"""The web UI in real Chromium: sign in, upload, see it charted, verify a proof, audit, tokens.

Screenshots of the main pages go to ``$CARBONLEDGER_SCREENSHOTS`` or
``tests/e2e/screenshots/`` (ignored by git).
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import PASSPHRASE, Served


def sign_in(page: Any, who: str, *, next_path: str = "") -> None:
    page.goto("/signin" + (f"?next={next_path}" if next_path else ""))
    page.get_by_label("Account (organisation/name, or admin)").fill(who)
    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Unlock and sign in").click()
    page.wait_for_load_state()
    assert page.locator(".badge").inner_text() == "key unlocked"


def site_total(page: Any, site: str) -> Decimal:
    page.goto("/orgs/northwind?year=2023")
    mark = page.locator(f'#chart-sites .mark[data-label="{site}"]')
    return Decimal(mark.get_attribute("data-value"))


def test_sign_in_with_the_keystore(page: Any, shots: Path) -> None:
    page.goto("/signin")
    page.screenshot(path=shots / "signin.png", full_page=True)
    sign_in(page, "admin")
    assert page.url.endswith("/")
    page.screenshot(path=shots / "overview.png", full_page=True)


def test_sign_in_by_pasting_a_signature_shows_the_message(page: Any, served: Served) -> None:
    page.goto("/signin")
    page.get_by_label("Your address").fill(served.home.config()["admin"])
    page.get_by_role("button", name="Get the message to sign").click()
    message = page.get_by_label("Message to sign (valid 5 minutes)").input_value()
    assert "wants you to sign in with your Ethereum account" in message
    assert page.get_by_label("Signature (hex)").is_visible()


def test_upload_a_bill_file_and_see_it_on_the_dashboard_chart(
    page: Any, shots: Path, tmp_path: Path
) -> None:
    sign_in(page, "admin")
    before = site_total(page, "nw-sf")
    bills = tmp_path / "may-bills.csv"
    bills.write_text(
        "site,account,start,end,amount,unit\n"
        "nw-sf,nw-sf-E7,2023-05-01,2023-05-31,250000,kWh\n"
        "nw-sf,nw-sf-E7,2023-06-01,2023-06-31,1000,kWh\n"
    )
    page.goto("/upload")
    page.get_by_label("Bills file (CSV)").set_input_files(str(bills))
    page.get_by_role("button", name="Import").click()
    assert page.locator("#recorded").inner_text() == "1"
    rejected = page.locator("#rejected tbody tr")
    assert rejected.count() == 1
    assert re.match(r"3\s+end\s+", rejected.first.inner_text())
    page.screenshot(path=shots / "upload.png", full_page=True)
    after = site_total(page, "nw-sf")
    assert after > before
    month = page.locator('#chart-months .mark[data-label="2023-05"]')
    assert Decimal(month.get_attribute("data-value")) > 0
    page.screenshot(path=shots / "dashboard.png", full_page=True)


def test_verify_a_records_proof_in_the_browser(page: Any, shots: Path) -> None:
    sign_in(page, "admin", next_path="/sites/nw-chicago")
    assert "/sites/nw-chicago" in page.url
    page.screenshot(path=shots / "site.png", full_page=True)
    page.get_by_role("link", name=re.compile("Trace and proof of the record")).first.click()
    page.get_by_role("button", name="Verify proof").click()
    browser_check = page.locator("#verify-browser[data-ok]")
    browser_check.wait_for()
    assert browser_check.get_attribute("data-ok") == "true", browser_check.inner_text()
    assert browser_check.inner_text().startswith("OK: leaf ")
    server_check = page.locator("#verify-server[data-ok]")
    server_check.wait_for()
    assert server_check.get_attribute("data-ok") == "true", server_check.inner_text()
    page.screenshot(path=shots / "record-verified.png", full_page=True)


def test_run_an_audit_as_dana(page: Any, shots: Path) -> None:
    sign_in(page, "greenaudit/dana")
    page.goto("/audit")
    page.get_by_label("Organisation").select_option("northwind")
    page.get_by_label("First day (YYYY-MM-DD)").fill("2023-01-01")
    page.get_by_label("Last day (YYYY-MM-DD)").fill("2023-12-31")
    page.get_by_role("button", name="Run the audit and sign the report").click()
    result = page.locator("#audit-result")
    assert re.search(r"\d+ verified", result.inner_text())
    assert "0 did not hold" in result.inner_text()
    page.screenshot(path=shots / "audit.png", full_page=True)


def test_retire_a_certificate(page: Any, served: Served, shots: Path) -> None:
    if served.features["tokens"]:
        pytest.skip(reason=f"token service missing: {served.features['tokens']}")
    sign_in(page, "greenmarkets/recs")
    page.goto("/tokens")
    page.get_by_label("Token you hold").first.select_option(index=0)
    page.locator("#r-amount").fill("10")
    page.get_by_label("Beneficiary").fill("Northwind Foods Inc.")
    page.get_by_label("Reason").fill("browser test")
    page.get_by_role("button", name="Retire").click()
    assert page.locator("#token-done").inner_text().startswith("Retired 10 of ")
    assert page.locator("#retirements").inner_text().count("browser test") == 1
    page.screenshot(path=shots / "tokens.png", full_page=True)


def test_vote_on_a_proposal(page: Any, served: Served, shots: Path) -> None:
    page.goto("/dao")
    page.screenshot(path=shots / "dao.png", full_page=True)
    if served.features["dao"]:
        pytest.skip(reason=f"DAO service missing: {served.features['dao']}")
    sign_in(page, "northwind/frank")  # holds 200,000 dCARB after the demo's first proposal
    page.goto("/dao")
    open_proposal = page.locator("#proposal-fund-monitoring")
    assert "Active" in open_proposal.inner_text()
    assert "ACR411" in open_proposal.inner_text()  # the project's registry data beside the vote
    open_proposal.get_by_label("for").check()
    open_proposal.get_by_role("button", name="Vote").click()
    assert "Voted for on fund-monitoring" in page.content()
    assert "447.2135955 votes" in page.locator("#proposal-fund-monitoring").inner_text()


def test_explorer_verifies_the_whole_ledger(page: Any, shots: Path) -> None:
    sign_in(page, "admin")
    page.goto("/ledger")
    assert page.locator("#entries tbody tr").count() > 3
    page.get_by_role("button", name="Verify whole ledger").click()
    assert "The ledger holds." in page.locator("#verify-report").inner_text()
    page.screenshot(path=shots / "ledger.png", full_page=True)


def test_keyboard_reaches_the_skip_link_first_and_it_moves_focus(page: Any) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_dashboard_at_phone_width(browser: Any, served: Served, shots: Path) -> None:
    context = browser.new_context(
        base_url=served.url, viewport={"width": 390, "height": 844}, device_scale_factor=2
    )
    try:
        page = context.new_page()
        sign_in(page, "admin", next_path="/orgs/northwind")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, "the dashboard scrolls sideways at phone width"
        page.screenshot(path=shots / "dashboard-phone.png", full_page=True)
    finally:
        context.close()
