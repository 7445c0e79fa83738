"""An outsider tries to compute what an organisation billed from what it can read.

Acme records a year of bills for two accounts. Dana (another organisation, no
access to Acme's channel) collects everything she can: ``records list --json``,
the raw database file, the REST API and the opentaps routes, and the lengths of
the sealed blobs. Her recovery code divides every public number by every
public constant of the record's calculation basis (factor, conversion constants,
fuel-mix shares), as the arithmetic attack on an earlier version did. She must
recover no billed amount, no result in kg and no renewable split, while the
same code run on what a member sees recovers every one of them.

Then disclosure: only an organisation admin publishes a period total, and that
total is what non-members then read.
"""

from __future__ import annotations

import calendar
import hashlib
import random
import re
import sqlite3
from collections.abc import Iterator
from datetime import date
from decimal import Decimal, localcontext
from itertools import combinations
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from carbonledger.api.context import ServiceAccount
from carbonledger.cli import app
from carbonledger.core.domain import Bill
from carbonledger.core.rules.disclosures import records_commitment
from carbonledger.core.tx import build_tx, utc_now
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import PermissionDenied
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.disclosures import disclose_total
from carbonledger.services.importer import import_bills
from carbonledger.services.records import RecordReader
from tests.api_helpers import PASS, Served, served

V1 = "/api/v1"
OPENTAPS = "/api/v1/utilityemissionchannel/emissionscontract"
DANA_TOKEN = "clk_dana-of-the-audit-firm"
_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    world = served(tmp_path_factory.mktemp("privacy") / "home")
    rng = random.Random(12)
    bills = []
    for site, account in (("hq", "E-100"), ("plant", "E-200")):
        for month in range(1, 13):
            # Distinctive decimals, so a search of the file cannot hit them by chance.
            amount = Decimal(rng.randint(10_000, 99_999)) + Decimal(rng.randint(1, 999)) / 1000
            cost = Decimal(rng.randint(1000, 9999)) + Decimal(rng.randint(1, 99)) / 100
            start = date(2023, month, 1)
            end = date(2023, month, calendar.monthrange(2023, month)[1])
            bills.append(Bill(site, account, start, end, amount, "kWh", cost=cost, currency="USD"))
    ledger = world.ctx.ledger
    with world.ctx.lock:
        report = import_bills(
            ledger, world.users["alice"], world.ctx.catalog, bills, store=ledger.channels
        )
    assert report.recorded == 24
    dana = world.users["dana"]
    world.ctx.register_service_token(DANA_TOKEN, ServiceAccount("audits", "dana", dana.address))
    yield world
    world.ctx.ledger.close()


def _member_views(api: Served) -> list[dict[str, Any]]:
    reader = RecordReader.for_member(api.ctx.ledger, api.ctx.ledger.channels, api.admin)
    return [
        {**reader.full(s.item), "billed": reader.detail(s.item)}
        for s in api.ctx.ledger.items(ItemQuery(kind="emissions_record"))
    ]


def _secrets(api: Served) -> dict[str, set[Decimal]]:
    """What Acme keeps private: billed amounts and costs, results, renewable splits."""
    out: dict[str, set[Decimal]] = {"amount": set(), "cost": set(), "kg": set(), "split": set()}
    for view in _member_views(api):
        if not view["period"]["start"].startswith("2023"):
            continue  # the blob-length test's own bills
        out["amount"].add(Decimal(view["billed"]["amount"]))
        out["cost"].add(Decimal(view["billed"]["cost"]))
        out["kg"].add(Decimal(view["kg_co2e"]))
        for name in ("renewable_kwh", "nonrenewable_kwh"):
            if view["trace"]["results"].get(name) is not None:
                out["split"].add(Decimal(view["trace"]["results"][name]))
    assert [len(out[k]) for k in ("amount", "cost", "kg", "split")] == [24, 24, 24, 48]
    return out


# --- the attacker's code -----------------------------------------------------------


def _numbers(value: Any) -> list[Decimal]:
    """Every number in a JSON value (numbers and numeric strings; not dates or hashes)."""
    found: list[Decimal] = []
    if isinstance(value, dict):
        for v in value.values():
            found += _numbers(v)
    elif isinstance(value, list):
        for v in value:
            found += _numbers(v)
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int | float):
        found.append(Decimal(str(value)))
    elif isinstance(value, str) and _NUMBER.match(value) and len(value) < 40:
        found.append(Decimal(value))
    return [n for n in found if n not in (0, 1)]


def recover(records: list[dict[str, Any]], bases: dict[str, dict[str, Any]]) -> set[Decimal]:
    """Divide (and multiply) every number of each record by every product of up to three
    constants of its calculation basis, and by shares in percent."""
    guesses: set[Decimal] = set()
    with localcontext() as ctx:
        ctx.prec = 40
        for record in records:
            basis_id = (record.get("trace") or {}).get("basis")
            constants = _numbers(bases.get(str(basis_id), {}))
            products = {Decimal(1)}
            for k in (1, 2, 3):
                for combo in combinations(constants, k):
                    p = Decimal(1)
                    for c in combo:
                        p *= c
                    products.add(p)
                    products.add(p / 100)  # a share in percent
            for n in _numbers({k: v for k, v in record.items() if k != "trace"}) + _numbers(
                (record.get("trace") or {}).get("results", {})
            ):
                for p in products:
                    guesses.update((n, n / p, n * p))
    return guesses


def _hits(guesses: set[Decimal], secrets: set[Decimal]) -> set[Decimal]:
    """Secrets matched by a guess to 1e-9 (the earlier attack's worst error was 1.8e-10)."""
    hits = set()
    for s in secrets:
        if any(abs(g - s) <= abs(s) * Decimal("1e-9") for g in guesses):
            hits.add(s)
    return hits


def _bases(api: Served) -> dict[str, dict[str, Any]]:
    return {
        s.item["id"]: s.item["basis"]
        for s in api.ctx.ledger.items(ItemQuery(kind="calculation_basis"))
    }


def _assert_nothing_recovered(api: Served, records: list[dict[str, Any]]) -> None:
    assert records, "the attacker saw no records at all"
    guesses = recover(records, _bases(api))
    for name, secret in _secrets(api).items():
        assert _hits(guesses, secret) == set(), f"{name} recovered from public data"


# --- the attacks ---------------------------------------------------------------------


def test_the_recovery_code_works_on_what_a_member_sees(api: Served) -> None:
    """Control: with the results a member reads, the same code finds every secret it
    targets (so finding nothing below means the data is not there)."""
    guesses = recover(_member_views(api), _bases(api))
    secrets = _secrets(api)
    for name in ("amount", "kg", "split"):
        assert _hits(guesses, secrets[name]) == secrets[name], name


def _cli(api: Served, *args: str) -> Any:
    env = {"CARBONLEDGER_HOME": str(api.home.path), "CARBONLEDGER_PASSPHRASE": PASS}
    res = CliRunner().invoke(app, list(args), env=env)
    assert res.exit_code == 0, (res.stdout, res.stderr)
    return orjson.loads(res.stdout)


def test_records_list_json_as_a_non_member(api: Served) -> None:
    as_dana = _cli(api, "records", "list", "--json", "--limit", "0", "--as", "audits/dana")
    public = _cli(api, "records", "list", "--json", "--limit", "0", "--public")
    assert len(as_dana) == len(public) == 24
    assert all("kg_co2e" not in r for r in as_dana + public)
    _assert_nothing_recovered(api, as_dana + public)
    # The member (the admin, by default) still sees every figure, as before.
    mine = _cli(api, "records", "list", "--json", "--limit", "0")
    assert {Decimal(r["kg_co2e"]) for r in mine} == _secrets(api)["kg"]


def test_the_raw_database_file(api: Served) -> None:
    path = api.home.ledger_file
    con = sqlite3.connect(path)
    items = [orjson.loads(d) for (d,) in con.execute("SELECT data FROM leaf")]
    bodies = [orjson.loads(b) for (b,) in con.execute("SELECT body FROM tx")]
    (snapshot,) = con.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()
    con.close()
    records = [i for i in items if i.get("kind") == "emissions_record"]
    _assert_nothing_recovered(api, records + bodies + [orjson.loads(snapshot)])
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    for name, secret in _secrets(api).items():
        for value in secret:
            assert str(value).encode() not in raw, f"{name} {value} in the file"


def test_the_api_as_another_organisation(api: Served) -> None:
    dana = api.sign_in(api.users["dana"], PASS)
    listed = api.client.get(f"{V1}/records", params={"limit": 1000}, headers=dana).json()
    records = listed["items"]
    assert len(records) == 24
    one = [api.client.get(f"{V1}/records/{r['id']}", headers=dana).json() for r in records]
    assert all("billed" not in r and "kg_co2e" not in r for r in one)
    _assert_nothing_recovered(api, records + one)


def test_opentaps_as_another_organisation(api: Served) -> None:
    rid = next(iter(api.ctx.ledger.items(ItemQuery(kind="emissions_record")))).item["id"]
    got = api.client.get(
        f"{OPENTAPS}/getEmissionsData/{rid}",
        params={"userId": "dana"},
        headers={"vault_token": DANA_TOKEN},
    )
    assert got.status_code == 403, got.text
    assert "channel 'acme'" in got.json()["detail"]  # refused by the channel's access check
    ranged = api.client.get(
        f"{OPENTAPS}/getAllEmissionsDataByDateRange/2023-01-01/2023-12-31",
        params={"userId": "dana"},
        headers={"vault_token": DANA_TOKEN},
    )
    assert (ranged.status_code, ranged.json()) == (200, [])  # Dana's own organisation's
    # Acme's own ERP still gets the full figures of the same record.
    mine = api.client.get(
        f"{OPENTAPS}/getEmissionsData/{rid}",
        params={"userId": "erp"},
        headers={"vault_token": api.erp_token},
    ).json()
    assert mine["renewableEnergyUseAmount"] is not None
    assert Decimal(str(mine["energyUseAmount"])) in _secrets(api)["amount"]


def test_blob_lengths_do_not_depend_on_amounts(api: Served) -> None:
    """Two imports of five bills each, one with tiny amounts and one with huge ones (and
    costs): their sealed blobs have the same length, so lengths classify nothing."""
    ledger = api.ctx.ledger

    def batch(account: str, amount: str, cost: str) -> int:
        bills = [
            Bill("hq", account, date(2021, m, 1), date(2021, m, 28), Decimal(amount), "kWh",
                 cost=Decimal(cost), currency="USD")
            for m in range(1, 6)
        ]  # fmt: skip
        with api.ctx.lock:
            report = import_bills(
                ledger, api.users["alice"], api.ctx.catalog, bills, store=ledger.channels
            )
        assert report.recorded == 5
        (stored,) = ledger.items(ItemQuery(id=report.record_ids[0], limit=1))
        return len(ledger.channels.blob(stored.item["detail"]["blob"]))

    small = batch("S-001", "1.5", "0.1")
    large = batch("L-001", "987654321987.123456", "123456789.99")
    assert small == large


# --- disclosure ----------------------------------------------------------------------


def _post_disclosure(api: Served, key: PrivateKey, item: dict[str, Any]) -> Any:
    """A disclose transaction signed by ``key``, sent straight to the API."""
    state = api.ctx.ledger.state()
    tx = build_tx(
        key,
        tx_type="disclose",
        ledger_id=str(state.ledger_id),
        nonce=state.next_nonce(key.address),
        created=utc_now(),
        items=[item],
    )
    body = {
        "body": tx.body_bytes.decode(),
        "items": [i.decode() for i in tx.items],
        "signature": tx.signature.hex(),
    }
    return api.client.post(f"{V1}/transactions", json=body)


def test_only_an_org_admin_discloses_and_everyone_reads_the_total(api: Served) -> None:
    ledger = api.ctx.ledger
    start, end = date(2023, 1, 1), date(2023, 12, 31)
    with api.ctx.lock, pytest.raises(PermissionDenied, match="not an admin of 'acme'"):
        disclose_total(
            ledger, ledger.channels, api.users["alice"], org="acme", start=start, end=end
        )
    # Past the service, the core refuses the same act from a member.
    forged = {
        "kind": "disclosure", "id": "acme-forged", "org": "acme",
        "period": {"start": "2023-01-01", "end": "2023-12-31"}, "scopes": ["2-location"],
        "kg_co2e": "1", "records": 1, "records_root": "00" * 32,
    }  # fmt: skip
    res = _post_disclosure(api, api.users["alice"], forged)
    assert res.status_code == 403, res.text
    with api.ctx.lock:
        done = disclose_total(ledger, ledger.channels, api.admin, org="acme", start=start, end=end)
    # Dana, with no access to Acme's channel, reads the published total ...
    dana = api.sign_in(api.users["dana"], PASS)
    (published,) = api.client.get(
        f"{V1}/items", params={"kind": "disclosure", "org": "acme"}, headers=dana
    ).json()
    # ... which is the sum a member computes from the sealed records, over the ids it commits to.
    views = [v for v in _member_views(api) if v["period"]["start"].startswith("2023")]
    assert Decimal(published["kg_co2e"]) == sum(Decimal(v["kg_co2e"]) for v in views)
    assert published["records"] == len(views) == 24
    assert published["records_root"] == records_commitment(v["id"] for v in views)
    assert published["id"] == done.item["id"]
    assert ledger.verify().ok
    listed = _cli(api, "records", "disclosures", "--json", "--org", "acme")
    assert [d["kg_co2e"] for d in listed] == [published["kg_co2e"]]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"kg_co2e": "-1"}, "kg_co2e"),
        ({"kg_co2e": "NaN"}, "kg_co2e"),
        ({"kg_co2e": "Infinity"}, "kg_co2e"),
        ({"records": -3}, "records"),
        ({"scopes": []}, "scopes"),
        ({"period": {"start": "2023-12-31", "end": "2023-01-01"}}, "before start"),
    ],
)
def test_a_bad_disclosure_is_refused(api: Served, change: dict[str, Any], expected: str) -> None:
    item = {
        "kind": "disclosure", "id": f"bad-{hashlib.sha256(repr(change).encode()).hexdigest()[:8]}",
        "org": "acme", "period": {"start": "2022-01-01", "end": "2022-12-31"},
        "scopes": ["2-location"], "kg_co2e": "10", "records": 1, "records_root": "00" * 32,
        **change,
    }  # fmt: skip
    res = _post_disclosure(api, api.admin, item)
    assert res.status_code == 422, res.text
    assert expected in res.json()["detail"]
    assert api.ctx.ledger.verify().ok
