"""The web UI as a new user meets it on the demo ledger: the explorer's leaf ranges against
the database file, the market-based card for a non-member, the DAO's projects, the
sign-in hint, and tables that scroll in their own box rather than widen the page.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from html import unescape

import pytest
from fastapi.testclient import TestClient

from carbonledger.api import create_app
from carbonledger.api.context import AppContext
from carbonledger.demo.story import run_demo
from carbonledger.services.home import Home

PASSPHRASE = "demo"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Home, TestClient]]:
    home = Home(tmp_path_factory.mktemp("web-first-hour") / "home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("carbonledger.services.home.KEYSTORE_SCRYPT_N", 2**10, raising=False)
        mp.setattr("carbonledger.demo.story.KEYSTORE_SCRYPT_N", 2**10, raising=False)
        run_demo(home, PASSPHRASE)
    ctx = AppContext.open(home, PASSPHRASE)
    with TestClient(create_app(ctx)) as client:
        yield home, client
    ctx.ledger.close()


def _signed_in(client: TestClient, who: str) -> TestClient:
    other = TestClient(client.app)
    token = re.search(r'name="csrf_token" value="([0-9a-f]*)"', other.get("/signin").text)
    assert token is not None
    res = other.post(
        "/signin/keystore",
        data={"who": who, "passphrase": PASSPHRASE, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert res.status_code == 303, res.text
    return other


def test_explorer_leaf_ranges_are_the_database_s(demo: tuple[Home, TestClient]) -> None:
    home, client = demo
    html = client.get("/ledger").text
    rows = re.findall(
        r'<tr><td class="num">(\d+)</td>.*?<td class="num">(\d+)\u2013(\d+)</td>', html, re.S
    )
    assert len(rows) > 10
    with sqlite3.connect(home.path / "ledger.db") as db:
        truth = {
            seq: (first, first + n - 1)
            for seq, first, n in db.execute("SELECT seq, first_leaf, n_leaves FROM tx")
        }
    shown = {int(seq): (int(a), int(b)) for seq, a, b in rows}
    assert shown == {seq: truth[seq] for seq in shown}
    # the list reaches back past the 200 newest leaves: its oldest entry starts before them
    size = max(b for _a, b in truth.values()) + 1
    oldest = min(shown)
    assert shown[oldest][0] < size - 200 <= shown[oldest][1]


def test_market_card_tells_a_non_member_why(demo: tuple[Home, TestClient]) -> None:
    _home, client = demo
    grace = _signed_in(client, "greenmarkets/grace")
    html = grace.get("/orgs/northwind?year=2023").text
    card = unescape(re.search(r'id="market-based">(.*?)</div>', html, re.S).group(1))
    assert "not a member" in card
    assert "northwind" in card
    assert "0x" not in card
    assert "wrapped" not in card


def test_dao_page_lists_the_projects_its_proposals_name(demo: tuple[Home, TestClient]) -> None:
    _home, client = demo
    html = client.get("/dao").text
    projects = html.split('id="h-projects"', 1)[1].split("</section>", 1)[0]
    assert "No projects yet" not in projects
    assert "ACR411" in projects


def test_signin_hint_names_an_account_that_can_sign_in(demo: tuple[Home, TestClient]) -> None:
    home, client = demo
    hint = re.search(r'id="ks-who-hint">For example ([^<]+)<', client.get("/signin").text)
    assert hint is not None
    who = hint.group(1)
    org, name = who.split("/")
    state = home.ledger().state()
    identity = next(i for i in state.identities.values() if (i["org"], i["name"]) == (org, name))
    assert identity["status"] == "active"
    assert "alice" not in who  # revoked in the demo
    _signed_in(client, who)


def test_every_table_scrolls_in_its_own_box(demo: tuple[Home, TestClient]) -> None:
    _home, client = demo
    admin = _signed_in(client, "admin")
    for path in ("/", "/orgs/northwind", "/sites/nw-chicago", "/ledger", "/tokens", "/dao",
                 "/audit", "/upload"):  # fmt: skip
        html = admin.get(path).text
        wrapped = re.findall(r'<div class="scroll">\s*<table', html)
        assert len(wrapped) == html.count("<table"), path


def test_static_css_breaks_long_words(demo: tuple[Home, TestClient]) -> None:
    _home, client = demo
    css = client.get("/static/style.css").text
    assert re.search(r"code[^{]*\{[^}]*overflow-wrap: anywhere", css)
