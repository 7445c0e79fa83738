"""The web UI over a demo ledger: pages, sign-in, CSRF, forms, accessibility basics.

One demo ledger (built by the demo story, a few seconds) is shared by the module;
tests that write add their own bills and audits to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from carbonledger.api import create_app
from carbonledger.api.context import AppContext
from carbonledger.crypto.keys import eip191_digest
from carbonledger.demo.story import run_demo
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.home import Home
from carbonledger.services.records import RecordReader
from carbonledger.web.charts import bar_chart, line_chart
from carbonledger.web.routes_auth import safe_next

PASSPHRASE = "demo"
PUBLIC_PAGES = ["/", "/signin", "/ledger", "/tokens", "/dao"]
PRIVATE_PAGES = [
    "/orgs/northwind",
    "/orgs/northwind?year=2023",
    "/orgs/northwind/inventory",
    "/sites/nw-chicago",
    "/sites/nw-chicago?offset=50",
    "/upload",
    "/audit",
]


@dataclass
class Demo:
    home: Home
    ctx: AppContext
    client: TestClient


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    home = Home(tmp_path_factory.mktemp("web") / "home")
    run_demo(home, PASSPHRASE)
    ctx = AppContext.open(home, PASSPHRASE)
    with TestClient(create_app(ctx)) as client:
        yield Demo(home, ctx, client)
    ctx.ledger.close()


def new_client(demo: Demo) -> TestClient:
    return TestClient(demo.client.app)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]*)"', html)
    assert match is not None, "the page has no form with a CSRF token"
    return match.group(1)


def keystore_client(demo: Demo, who: str) -> TestClient:
    client = new_client(demo)
    token = csrf_of(client.get("/signin").text)
    response = client.post(
        "/signin/keystore",
        data={"who": who, "passphrase": PASSPHRASE, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


@pytest.fixture(scope="module")
def admin(demo: Demo) -> TestClient:
    return keystore_client(demo, "admin")


@pytest.fixture(scope="module")
def record_id(demo: Demo) -> str:
    first = next(iter(demo.ctx.ledger.items(ItemQuery(kind="emissions_record", limit=1))))
    return str(first.item["id"])


class Page(HTMLParser):
    """What the accessibility checks need from a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.labels: set[str] = set()
        self.controls: list[dict[str, str | None]] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag == "label" and a.get("for"):
            self.labels.add(str(a["for"]))
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.controls.append(a)
        if tag == "a" and a.get("href"):
            self.links.append(str(a["href"]))


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def all_pages(admin: TestClient, record_id: str) -> dict[str, str]:
    pages = {p: admin.get(p) for p in [*PUBLIC_PAGES, *PRIVATE_PAGES, f"/records/{record_id}"]}
    for path, response in pages.items():
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:300]}"
    return {p: r.text for p, r in pages.items()}


# -- pages render ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_public_page_renders_signed_out(demo: Demo, path: str) -> None:
    response = new_client(demo).get(path)
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]


@pytest.mark.parametrize("path", [*PRIVATE_PAGES, "/records/anything"])
def test_private_page_sends_signed_out_user_to_signin(demo: Demo, path: str) -> None:
    response = new_client(demo).get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin?next=%2F")


@pytest.mark.parametrize("path", [*PUBLIC_PAGES, *PRIVATE_PAGES])
def test_page_renders_signed_in(admin: TestClient, path: str) -> None:
    response = admin.get(path)
    assert response.status_code == 200, response.text[:500]
    assert "network admin" in response.text


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/orgs/nobody", 404),
        ("/sites/nowhere", 404),
        ("/records/not-a-record", 404),
        ("/orgs/northwind?year=abc", 422),
        ("/sites/nw-chicago?offset=-1", 422),
        ("/sites/nw-chicago?offset=9223372036854775808", 422),
    ],
)
def test_bad_address_is_an_html_page_not_a_500(admin: TestClient, path: str, status: int) -> None:
    response = admin.get(path)
    assert response.status_code == status
    assert "text/html" in response.headers["content-type"]
    assert parse(response.text).tags.get("h1") == 1


def test_static_files_are_served_locally(demo: Demo) -> None:
    for path in ("/static/style.css", "/static/verify.js", "/static/favicon.svg"):
        assert demo.client.get(path).status_code == 200


def test_pages_load_nothing_from_another_site(admin: TestClient, record_id: str) -> None:
    for path, html in all_pages(admin, record_id).items():
        assert not re.findall(r"https?://", html), path
        assert "//" not in " ".join(re.findall(r'(?:src|href)="(//[^"]*)"', html)), (
            f"{path}: protocol-relative URL"
        )


def test_pages_have_one_h1_a_main_landmark_and_labelled_controls(
    admin: TestClient, record_id: str
) -> None:
    for path, html in all_pages(admin, record_id).items():
        page = parse(html)
        assert page.tags.get("h1") == 1, path
        assert page.tags.get("main") == 1, path
        assert page.tags.get("nav", 0) >= 1, path
        assert "#main" in page.links, f"{path}: no skip link"
        for control in page.controls:
            assert control.get("id") in page.labels or control.get("aria-label"), (path, control)


def test_signin_page_controls_are_labelled_for_both_ways(demo: Demo) -> None:
    client = new_client(demo)
    page = parse(client.get("/signin").text)
    assert {"ks-who", "ks-pass", "self-address"} <= page.labels
    asked = client.post(
        "/signin/challenge",
        data={
            "address": demo.ctx.ledger.state().admin,
            "csrf_token": csrf_of(client.get("/signin").text),
        },
    )
    assert {"self-message", "self-signature"} <= parse(asked.text).labels


def test_charts_have_titles_and_a_table_fallback(admin: TestClient) -> None:
    html = admin.get("/orgs/northwind?year=2023").text
    assert html.count('role="img"') == 2
    assert 'aria-labelledby="chart-sites-title chart-sites-desc"' in html
    assert "<table" in html
    assert "Emissions per month, 2023" in html


# -- the dashboard's figures ---------------------------------------------------------------


def test_dashboard_chart_shows_each_sites_total(demo: Demo, admin: TestClient) -> None:
    html = admin.get("/orgs/northwind?year=2023").text
    drawn = dict(re.findall(r'data-label="(nw-[a-z]+)" data-value="([0-9.]+)"', html))
    expected: dict[str, Decimal] = {}
    # Results are sealed: the admin (a member of Northwind's channel) opens them.
    reader = RecordReader.for_member(demo.ctx.ledger, demo.ctx.ledger.channels, demo.ctx.operator)
    for stored in demo.ctx.ledger.items(ItemQuery(kind="emissions_record", org="northwind")):
        if stored.item["period"]["start"].startswith("2023"):
            site = stored.item["site"]
            kg = Decimal(reader.full(stored.item)["kg_co2e"])
            expected[site] = expected.get(site, Decimal(0)) + kg
    assert {s: Decimal(v) for s, v in drawn.items()} == {s: kg / 1000 for s, kg in expected.items()}
    assert len(drawn) == 8


def test_dashboard_says_what_is_not_available_without_failing(demo: Demo) -> None:
    dana = new_client(demo)
    _signature_signin(demo, dana, "greenaudit", "dana")
    html = dana.get("/orgs/northwind").text
    assert 'id="market-based"' in html
    assert "sign in with your keystore" in html.lower()


# -- sign-in -------------------------------------------------------------------------------


def _signature_signin(demo: Demo, client: TestClient, org: str, name: str) -> None:
    key = demo.home.user_key(org, name, PASSPHRASE)
    asked = client.post(
        "/signin/challenge",
        data={"address": key.address, "csrf_token": csrf_of(client.get("/signin").text)},
    )
    message = re.search(r'name="message" value="([^"]*)"', asked.text)
    assert message is not None
    text = message.group(1).replace("&#10;", "\n").replace("&amp;", "&")
    signature = key.sign_digest(eip191_digest(text.encode())).hex()
    done = client.post(
        "/signin/signature",
        data={
            "message": text,
            "signature": signature,
            "address": key.address,
            "csrf_token": csrf_of(asked.text),
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text


def test_signature_signin_gives_a_read_only_session(demo: Demo) -> None:
    client = new_client(demo)
    _signature_signin(demo, client, "greenaudit", "dana")
    html = client.get("/upload").text
    assert "read-only" in html
    assert "this server holds no key to sign with" in html


def test_session_cookie_is_httponly_and_samesite_strict(demo: Demo) -> None:
    client = new_client(demo)
    response = client.post(
        "/signin/keystore",
        data={
            "who": "greenaudit/dana",
            "passphrase": PASSPHRASE,
            "csrf_token": csrf_of(client.get("/signin").text),
        },
        follow_redirects=False,
    )
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert response.headers["location"] == "/orgs/greenaudit"


@pytest.mark.parametrize(
    ("who", "passphrase", "says"),
    [
        ("admin", "wrong", "could not unlock"),
        ("northwind/nobody", PASSPHRASE, "no identity"),
        ("northwind/alice", PASSPHRASE, "revoked"),
        ("nobody", PASSPHRASE, "ORG/NAME"),
        ("admin", "", "passphrase"),
    ],
)
def test_keystore_signin_names_what_is_wrong(
    demo: Demo, who: str, passphrase: str, says: str
) -> None:
    client = new_client(demo)
    response = client.post(
        "/signin/keystore",
        data={
            "who": who,
            "passphrase": passphrase,
            "csrf_token": csrf_of(client.get("/signin").text),
        },
    )
    assert response.status_code == 400
    assert says in response.text
    assert 'role="alert"' in response.text


def test_bad_signature_is_refused(demo: Demo) -> None:
    client = new_client(demo)
    address = demo.ctx.ledger.state().admin
    asked = client.post(
        "/signin/challenge",
        data={"address": address, "csrf_token": csrf_of(client.get("/signin").text)},
    )
    response = client.post(
        "/signin/signature",
        data={"message": "Nonce: 00", "signature": "00" * 65, "csrf_token": csrf_of(asked.text)},
    )
    assert response.status_code == 400
    assert "nonce" in response.text


def test_challenge_refuses_a_malformed_address(demo: Demo) -> None:
    client = new_client(demo)
    response = client.post(
        "/signin/challenge",
        data={"address": "0x123", "csrf_token": csrf_of(client.get("/signin").text)},
    )
    assert response.status_code == 400
    assert "not an Ethereum address" in response.text


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/orgs/northwind", "/orgs/northwind"),
        ("//evil.example", ""),
        ("https://evil", ""),
        (None, ""),
    ],
)
def test_redirect_after_signin_stays_on_this_site(target: str | None, safe: str) -> None:
    assert safe_next(target) == safe


def test_signout_ends_the_session_and_locks_the_key(demo: Demo) -> None:
    client = keystore_client(demo, "greenaudit/dana")
    sessions = len(demo.ctx.sessions)
    response = client.post(
        "/signout", data={"csrf_token": csrf_of(client.get("/audit").text)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert len(demo.ctx.sessions) == sessions - 1
    assert client.get("/audit", follow_redirects=False).status_code == 303


# -- CSRF ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/signin/keystore", {"who": "admin", "passphrase": PASSPHRASE}),
        ("/signin/challenge", {"address": "0x" + "1" * 40}),
        ("/audit", {"org": "northwind", "start": "2023-01-01", "end": "2023-12-31"}),
        ("/ledger/verify", {}),
        ("/tokens/retire", {"token": "x", "amount": "1", "beneficiary": "b"}),
        ("/signout", {}),
    ],
)
def test_forms_without_the_csrf_token_are_refused(
    admin: TestClient, path: str, data: dict[str, str]
) -> None:
    for token in ("", "0" * 64):
        response = admin.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403, path
        assert "CSRF" in response.text


def test_csrf_token_is_per_session(demo: Demo, admin: TestClient) -> None:
    other = keystore_client(demo, "greenaudit/dana")
    response = other.post("/ledger/verify", data={"csrf_token": csrf_of(admin.get("/ledger").text)})
    assert response.status_code == 403


def test_upload_without_the_csrf_token_is_refused(admin: TestClient) -> None:
    response = admin.post(
        "/upload", data={"csrf_token": "bad"}, files={"file": ("b.csv", b"site\n", "text/csv")}
    )
    assert response.status_code == 403


# -- forms that write ----------------------------------------------------------------------

BILLS = b"""site,account,start,end,amount,unit
nw-austin,nw-austin-W1,2023-03-01,2023-03-31,1000,kWh
nw-austin,nw-austin-W1,2023-13-01,2023-13-31,1000,kWh
nw-austin,nw-austin-W1,2023-04-01,2023-04-30,-5,kWh
"""


def test_upload_records_good_rows_and_names_each_bad_one(admin: TestClient) -> None:
    before = admin.get("/orgs/northwind?year=2023").text
    response = admin.post(
        "/upload",
        data={"csrf_token": csrf_of(admin.get("/upload").text)},
        files={"file": ("bills.csv", BILLS, "text/csv")},
    )
    assert response.status_code == 200
    html = response.text
    assert re.search(r'id="recorded">1<', html)
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td>(\w+)</td><td>([^<]+)</td></tr>', html)
    assert [(line, field) for line, field, _ in rows] == [("3", "start"), ("4", "amount")]
    after = admin.get("/orgs/northwind?year=2023").text

    def austin(page: str) -> Decimal:
        match = re.search(r'data-label="nw-austin" data-value="([0-9.]+)"', page)
        assert match is not None
        return Decimal(match.group(1))

    assert austin(after) > austin(before)
    again = admin.post(
        "/upload",
        data={"csrf_token": csrf_of(admin.get("/upload").text)},
        files={"file": ("bills.csv", BILLS, "text/csv")},
    )
    assert re.search(r'id="recorded">0<', again.text)
    assert "1 already recorded" in again.text


@pytest.mark.parametrize(
    ("content", "says"),
    [(b"", "choose a CSV file"), (b"\xff\xfe\x00bad", "not UTF-8")],
)
def test_upload_validates_the_file(admin: TestClient, content: bytes, says: str) -> None:
    response = admin.post(
        "/upload",
        data={"csrf_token": csrf_of(admin.get("/upload").text)},
        files={"file": ("bills.csv", content, "text/csv")},
    )
    assert says in response.text
    assert 'aria-invalid="true"' in response.text


def test_auditor_runs_an_audit_from_the_browser(demo: Demo) -> None:
    dana = keystore_client(demo, "greenaudit/dana")
    page = dana.get("/audit").text
    assert "northwind" in page
    response = dana.post(
        "/audit",
        data={
            "org": "northwind",
            "start": "2023-01-01",
            "end": "2023-12-31",
            "csrf_token": csrf_of(page),
        },
    )
    assert response.status_code == 200, response.text
    assert re.search(r"<strong>\d+ verified</strong>, 0 did not hold", response.text)
    reports = list(demo.ctx.ledger.items(ItemQuery(kind="audit_report")))
    assert len(reports) >= 2


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ({"org": "northwind", "start": "2023-02-30", "end": "2023-12-31"}, "start"),
        ({"org": "northwind", "start": "2023-12-31", "end": "2023-01-01"}, "the end is before"),
        ({"org": "", "start": "2023-01-01", "end": "2023-12-31"}, "choose an organisation"),
    ],
)
def test_audit_form_validates(demo: Demo, form: dict[str, str], says: str) -> None:
    dana = keystore_client(demo, "greenaudit/dana")
    response = dana.post("/audit", data={**form, "csrf_token": csrf_of(dana.get("/audit").text)})
    assert response.status_code == 400
    assert says in response.text


def test_a_member_is_not_offered_the_audit_form(admin: TestClient) -> None:
    assert "Audits are signed by an identity with the auditor role" in admin.get("/audit").text


def test_verify_whole_ledger_shows_the_report(admin: TestClient) -> None:
    response = admin.post("/ledger/verify", data={"csrf_token": csrf_of(admin.get("/ledger").text)})
    assert response.status_code == 200
    assert "The ledger holds." in response.text


def test_token_forms_validate(admin: TestClient) -> None:
    response = admin.post(
        "/tokens/retire",
        data={
            "token": "nothing",
            "amount": "-1",
            "beneficiary": "x",
            "csrf_token": csrf_of(admin.get("/tokens").text),
        },
    )
    assert response.status_code == 400
    assert 'role="alert"' in response.text


def test_dao_vote_needs_a_service_or_says_so(admin: TestClient) -> None:
    response = admin.post(
        "/dao/vote",
        data={"proposal": "p1", "choice": "for", "csrf_token": csrf_of(admin.get("/dao").text)},
    )
    assert response.status_code == 400
    assert 'role="alert"' in response.text


# -- records and their proofs --------------------------------------------------------------


def test_record_page_shows_the_trace_to_a_member(admin: TestClient, record_id: str) -> None:
    html = admin.get(f"/records/{record_id}").text
    for part in ("Resolution steps", "Conversions", "Formula", 'id="billed"', "matches"):
        assert part in html
    assert 'id="verify-button"' in html
    assert '<script src="/static/verify.js" defer></script>' in html


def test_record_page_shows_a_non_member_the_public_trace(demo: Demo, record_id: str) -> None:
    other = new_client(demo)
    _signature_signin(demo, other, "greenaudit", "dana")
    html = other.get(f"/records/{record_id}").text
    assert "Formula" in html
    assert 'id="billed"' not in html


def test_server_side_proof_check(demo: Demo, record_id: str) -> None:
    result = demo.client.get(f"/records/{record_id}/check").json()
    assert result["ok"] is True
    assert result["signer"] == result["operator"] == demo.ctx.ledger.state().admin


def test_explorer_lists_recent_entries(demo: Demo) -> None:
    html = demo.client.get("/ledger").text
    assert "audit_report" in html
    assert "emissions_record" in html


# -- charts --------------------------------------------------------------------------------


def test_chart_labels_are_escaped() -> None:
    svg = str(bar_chart("c", "T <x>", [("<script>", Decimal(2))]))
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg


def test_empty_charts_say_so() -> None:
    assert "no data" in str(bar_chart("a", "t", []))
    assert "no data" in str(line_chart("b", "t", []))


def test_line_chart_draws_one_point_per_month() -> None:
    points = [(f"2023-{m:02d}", Decimal(m)) for m in range(1, 13)]
    assert str(line_chart("m", "t", points)).count("<circle") == 12


def test_keystore_files_are_where_the_signin_page_says(demo: Demo) -> None:
    assert Path(demo.home.user_keystore("greenaudit", "dana")).exists()
