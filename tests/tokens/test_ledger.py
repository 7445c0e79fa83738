"""Tokens on the embedded ledger: Scope 2 and net reports, conservation, concurrent spends."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonledger.core.rules.tokens import token_ids
from carbonledger.core.state import LedgerState, apply
from carbonledger.core.tokens.scope2 import ResidualMix
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import CarbonLedgerError
from carbonledger.services.home import Home
from carbonledger.services.offsets import package_directory
from carbonledger.services.scope2 import net_report, report_csv, scope2_report
from carbonledger.services.tokens import issue_audited, issue_offset, issue_rec, retire, transfer
from tests.tokens.tokens_helpers import MONTHLY_KWH, World, build_template, copy_world

D = Decimal
YEAR = 2023


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_template(tmp_path_factory.mktemp("tokens-ledger") / "home")
    yield world
    world.ledger.close()


@pytest.fixture
def w(template: World, tmp_path: Path) -> Iterator[World]:
    world = copy_world(template, tmp_path / "home")
    yield world
    world.ledger.close()


def camx_rec(w: World, mwh: int, *, token_id: str = "rec-camx") -> str:
    return issue_rec(
        w.ledger,
        w.rec_dealer,
        to="acme/alice",
        mwh=mwh,
        facility="Altamont Pass Wind Farm",
        grid_region="CAMX",
        generation=(date(2023, 1, 1), date(2023, 12, 31)),
        registry="WREGIS",
        serial_prefix="WREGIS-56789-",
        serial_start=1,
        token_id=token_id,
    ).token


def test_scope2_report_from_the_ledger(w: World) -> None:
    tid = camx_rec(w, 300)
    retire(
        w.ledger,
        w.alice,
        tid,
        amount=150,
        beneficiary="Acme Corp",
        reason="Scope 2 2023",
        org="acme",
        site="acme-sf",
    )
    result = scope2_report(w.ledger, w.store, w.alice, "acme", YEAR)
    by_site = result.by_site()
    # San Francisco uses 12 x 20,000 kWh = 240,000 kWh; 150 MWh = 150,000 kWh are covered.
    sf = by_site["acme-sf"]
    assert (sf["kwh"], sf["covered_kwh"]) == (D(240000), D(150000))
    # Location-based for SF: 12 records of 20,000 kWh at eGRID2023r2 CAMX 429.983 lb/MWh.
    k = D("429.983") * D("0.45359237") * D("0.001")
    per_month = (D(20000) * k).quantize(D("0.000001"))
    assert sf["location_kg"] == 12 * per_month
    # Fallback (no residual mix): market = location - round(covered x location factor).
    covered_kg = sum(
        (D(r.covered_kwh) * k).quantize(D("0.000001")) for r in result.rows if r.site == "acme-sf"
    )
    assert sf["market_kg"] == sf["location_kg"] - covered_kg
    # Other sites are untouched; the RFCW and DE sites' market figure equals location.
    for s in ("acme-chi", "acme-berlin"):
        assert by_site[s]["market_kg"] == by_site[s]["location_kg"]
        assert by_site[s]["kwh"] == 12 * MONTHLY_KWH[s]
    assert result.kwh == 12 * sum(MONTHLY_KWH.values())
    assert report_csv(result).count("\n") == 1 + 36 + 1
    with_mix = scope2_report(
        w.ledger,
        w.store,
        w.alice,
        "acme",
        YEAR,
        residual={"CAMX": ResidualMix("CAMX", D("0.3"), "test")},
    )
    assert with_mix.by_site()["acme-sf"]["market_kg"] == D(90000) * D("0.3")


def test_scope2_needs_a_member_key(w: World) -> None:
    with pytest.raises(CarbonLedgerError, match="not a member of channel 'acme'"):
        scope2_report(w.ledger, w.store, w.bob, "acme", YEAR)


def test_net_emissions_audited_minus_offsets_with_rec_displacement_beside(w: World) -> None:
    aud = issue_audited(
        w.ledger,
        w.auditor,
        store=w.ledger.channels,
        org="acme",
        scope="2",
        start=date(YEAR, 1, 1),
        end=date(YEAR, 12, 31),
    ).token
    off = issue_offset(
        w.ledger,
        w.offset_dealer,
        package_directory(),
        project="VCS1529",
        to="acme/alice",
        tonnes=100,
        vintage=2014,
        serial_prefix="VCU-1529-2014-",
        serial_start=1,
    ).token
    retire(
        w.ledger,
        w.alice,
        off,
        amount=60,
        beneficiary="Acme Corp",
        reason="net zero 2023",
        org="acme",
        period=(date(YEAR, 1, 1), date(YEAR, 12, 31)),
    )
    retire(
        w.ledger, w.alice, off, amount=5, beneficiary="Acme Corp", reason="no period", org="acme"
    )
    tid = camx_rec(w, 100)
    retire(
        w.ledger, w.alice, tid, amount=100, beneficiary="Acme Corp", reason="Scope 2", org="acme"
    )
    s2 = scope2_report(w.ledger, w.store, w.alice, "acme", YEAR)
    net = net_report(w.ledger, "acme", YEAR, scope2=s2)
    audited_kg = D(w.ledger.state().tokens[aud]["issued"]) / 1_000_000
    assert net.audited_kg == audited_kg == s2.location_kg
    assert net.offsets_kg == D(60000)
    assert net.net_kg == audited_kg - D(60000)
    assert net.rec_displacement_kg == s2.location_kg - s2.market_kg > 0
    doc = net.to_dict()
    assert doc["inputs"]["offsets"][0]["serial"] == "VCU-1529-2014-1..VCU-1529-2014-60"
    assert doc["excluded"][0]["reason"] == "names no period"
    assert doc["inputs"]["audited"][0]["records"] == 36
    assert w.ledger.verify().ok


# -- conservation, straight on the state machine (no I/O) -------------------
def _body(state: LedgerState, sender: str, tx_type: str) -> dict[str, Any]:
    return {
        "type": tx_type,
        "ledger": state.ledger_id,
        "sender": sender,
        "nonce": state.next_nonce(sender),
    }


def _check_conservation(state: LedgerState) -> None:
    for tid in token_ids(state):
        tok = state.tokens[tid]
        held = [b for k, b in state.balances.items() if k.endswith("/" + tid)]
        assert all(b["available"] >= 0 and b["retired"] >= 0 for b in held)
        assert sum(b["available"] + b["retired"] for b in held) == tok["issued"]
        assert sum(b["retired"] for b in held) == tok["retired"]


ops = st.lists(
    st.tuples(
        st.sampled_from(["transfer", "retire"]),
        st.integers(0, 2),
        st.integers(0, 2),
        st.integers(1, 80),
    ),
    max_size=25,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=ops)
def test_transfers_and_retirements_conserve_totals(template: World, ops: list[Any]) -> None:
    state = template.ledger.state()
    holders: list[PrivateKey] = [template.alice, template.bob, template.rec_dealer]
    tid = "rec-prop"
    items = [
        {
            "kind": "token",
            "id": tid,
            "type": "REC",
            "amount": 100,
            "to": holders[0].address,
            "facility": {"name": "F"},
            "grid_region": "CAMX",
            "generation": {"start": "2023-01-01", "end": "2023-12-31"},
            "registry": "PROP",
            "serial": {"prefix": "P-", "start": 1, "end": 100},
        }
    ]
    apply(
        state,
        _body(state, template.rec_dealer.address, "issue_token"),
        items,
        now="2024-01-01T00:00:00.000Z",
    )
    for n, (op, a, b, amount) in enumerate(ops):
        sender = holders[a].address
        trial = state.copy()
        if op == "transfer":
            item = {
                "kind": "token_transfer",
                "id": f"t{n}",
                "token": tid,
                "to": holders[b].address,
                "amount": amount,
            }
        else:
            tok = state.tokens[tid]
            start = 1 + tok["retired"]
            item = {
                "kind": "token_retirement",
                "id": f"r{n}",
                "token": tid,
                "amount": amount,
                "serial": {"prefix": "P-", "start": start, "end": start + amount - 1},
                "beneficiary": "B",
                "reason": "R",
            }
        before = state.to_json()
        try:
            apply(
                trial, _body(trial, sender, f"{op}_token"), [item], now="2024-01-01T00:00:00.000Z"
            )
        except CarbonLedgerError:
            assert state.to_json() == before  # a refused operation changes nothing
            continue
        state = trial
        _check_conservation(state)
    _check_conservation(state)


# -- two processes spending the same units ----------------------------------
def _spend(
    home: str, admin_hex: str, holder_hex: str, token: str, to: str, op: str, barrier: Any, out: Any
) -> None:
    admin, holder = PrivateKey.from_hex(admin_hex), PrivateKey.from_hex(holder_hex)
    ledger = Home(Path(home)).ledger(admin)  # each process loads its own view of the state
    barrier.wait()
    try:
        if op == "retire":
            retire(ledger, holder, token, amount=10, beneficiary="Acme", reason="race")
        else:
            transfer(ledger, holder, token, to=to, amount=10)
        out.put((op, "ok"))
    except CarbonLedgerError as exc:
        out.put((op, f"refused: {exc}"))
    finally:
        ledger.close()


def test_concurrent_retire_and_transfer_never_double_spend(w: World) -> None:
    tid = camx_rec(w, 10)
    w.ledger.close()
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    args = (
        str(w.home.path),
        w.admin.to_bytes().hex(),
        w.alice.to_bytes().hex(),
        tid,
        w.bob.address,
    )
    procs = [
        ctx.Process(target=_spend, args=(*args, op, barrier, out)) for op in ("retire", "transfer")
    ]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    ok = [op for op, r in results.items() if r == "ok"]
    assert len(ok) == 1, results  # the other was refused: its view of the ledger was stale
    ledger = w.reopen()
    state = ledger.state()
    _check_conservation(state)
    alice = state.balances[f"{w.alice.address}/{tid}"]
    bob = state.balances.get(f"{w.bob.address}/{tid}", {"available": 0, "retired": 0})
    assert alice["available"] + alice["retired"] + bob["available"] == 10
    assert alice["retired"] + bob["available"] == 10 * len(ok)
    assert ledger.verify().ok
