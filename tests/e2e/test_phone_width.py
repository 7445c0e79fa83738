"""Every page at phone width (390 px) in real Chromium: nothing scrolls sideways.

The page as a whole must fit (``document.documentElement.scrollWidth <= 390``);
a wide table may scroll inside its own box, and then each of its columns must be
reachable there (the records table's kg CO2e column in particular).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from carbonledger.ports.ledger import ItemQuery
from tests.e2e.conftest import Served
from tests.e2e.test_browser import sign_in

WIDTH = 390
PUBLIC = ["/", "/signin", "/ledger", "/tokens", "/dao", "/docs"]
SIGNED_IN = [
    "/",
    "/orgs/northwind",
    "/orgs/northwind?year=2023",
    "/orgs/northwind/inventory",
    "/orgs/northwind/inventory?year=2023",
    "/orgs/greenaudit",
    "/sites/nw-chicago",
    "/sites/nw-london",
    "/upload",
    "/audit",
    "/ledger",
    "/tokens",
    "/dao",
]


def _record_id(served: Served) -> str:
    ledger = served.home.ledger()
    try:
        return next(iter(ledger.items(ItemQuery(kind="emissions_record", limit=1)))).item["id"]
    finally:
        ledger.close()


@pytest.fixture(scope="module")
def phone(browser: Any, served: Served) -> Iterator[Any]:
    context = browser.new_context(
        base_url=served.url, viewport={"width": WIDTH, "height": 844}, device_scale_factor=2
    )
    try:
        yield context
    finally:
        context.close()


def _width(page: Any, path: str) -> int:
    response = page.goto(path)
    assert response is not None
    assert response.status == 200, path
    page.wait_for_load_state("load")
    return int(page.evaluate("document.documentElement.scrollWidth"))


def test_public_pages_fit_at_390px(phone: Any) -> None:
    page = phone.new_page()
    widths = {path: _width(page, path) for path in PUBLIC}
    assert all(w <= WIDTH for w in widths.values()), widths
    page.close()


def test_signed_in_pages_fit_at_390px(phone: Any, served: Served) -> None:
    page = phone.new_page()
    sign_in(page, "admin")
    paths = [*SIGNED_IN, f"/records/{_record_id(served)}"]
    widths = {path: _width(page, path) for path in paths}
    assert all(w <= WIDTH for w in widths.values()), widths
    page.close()


def test_the_records_tables_kg_column_is_reachable_at_390px(phone: Any) -> None:
    page = phone.new_page()
    sign_in(page, "admin", next_path="/sites/nw-chicago")
    page.goto("/sites/nw-chicago")
    header = page.locator("table.records thead th", has_text="kg CO2e")
    header.scroll_into_view_if_needed()
    box = header.bounding_box()
    assert box is not None
    # after scrolling its box, the column lies within the screen
    assert box["x"] >= 0, box
    assert box["x"] + box["width"] <= WIDTH, box
    first_kg = page.locator("table.records tbody tr").first.locator("td").nth(4)
    assert first_kg.inner_text().replace(".", "").isdigit()
    page.close()


def test_pages_fit_at_390px_for_a_user_outside_the_organisation(phone: Any) -> None:
    # greenmarkets/grace is not a member of Northwind's channel: the dashboard says so
    page = phone.new_page()
    sign_in(page, "greenmarkets/grace")
    paths = ["/orgs/northwind", "/orgs/northwind?year=2023", "/sites/nw-chicago", "/tokens"]
    widths = {path: _width(page, path) for path in paths}
    assert all(w <= WIDTH for w in widths.values()), widths
    page.goto("/orgs/northwind?year=2023")
    card = page.locator("#market-based").inner_text()
    assert "not a member" in card
    assert "0x" not in card
    page.close()
