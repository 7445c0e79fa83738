"""Attack: find a utility account or meter number in what the ledger makes public.

The README promises that a record shows only a pseudonymous account reference and
that "the number itself is only in the sealed details". Meters and utilities are
registered, and their credentials anchored, on the same ledger: those public items
must name accounts by the same reference, never by the number. The attacker here
holds a copy of the raw ledger file of ``carbonledger demo`` (bills for several
accounts, a registered meter and utility, a year of anchored meter readings and a
utility bill credential) and searches its bytes, and the public state every node
replays, for each account number a member sees in the sealed details.
"""

from __future__ import annotations

import json

import pytest

from carbonledger.core.domain import account_ref
from carbonledger.demo.story import run_demo
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.home import Home
from carbonledger.services.records import RecordReader


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Home:
    home = Home(tmp_path_factory.mktemp("accounts") / "home")
    run_demo(home, "demo")
    return home


def _member_accounts(home: Home) -> set[tuple[str, str]]:
    """(site, account number) of every record, as a member opens them."""
    key = home.key("demo")  # the demo's published passphrase; its admin is a member
    ledger = home.ledger(key)
    try:
        reader = RecordReader.for_member(ledger, ledger.channels, key)
        records = ledger.items(ItemQuery(kind="emissions_record"))
        return {(r["site"], r["account"]) for r in (reader.full(s.item) for s in records)}
    finally:
        ledger.close()


def test_the_demo_has_meters_utilities_and_accounts_to_find(demo: Home) -> None:
    """Control: the attack has something to look for, and a member does see it."""
    accounts = _member_accounts(demo)
    assert len(accounts) >= 4
    state = demo.ledger().state()
    kinds = {d["kind"] for d in state.devices.values() if "kind" in d}
    assert {"device", "utility"} <= kinds
    # the meter the demo registers measures one of the billed accounts
    device = next(d for d in state.devices.values() if d.get("kind") == "device")
    assert any(account_ref(s, a) == device["meter_ref"] for s, a in accounts)


def test_no_account_number_in_the_raw_ledger_file(demo: Home) -> None:
    raw = (demo.path / "ledger.db").read_bytes()
    for path in demo.path.glob("ledger.db-*"):  # WAL and shared memory, if any
        raw += path.read_bytes()
    for site, account in sorted(_member_accounts(demo)):
        assert account.encode() not in raw, f"{site}/{account} is readable in the ledger file"
        # the reference is what the public items use instead
        assert account_ref(site, account).encode() in raw


def test_no_account_number_in_the_replayed_public_state(demo: Home) -> None:
    ledger = demo.ledger()
    try:
        public = json.dumps(ledger.state().devices)
        public += json.dumps([s.item for s in ledger.items(ItemQuery(kind="credential"))])
    finally:
        ledger.close()
    assert '"credential"' in public  # anchors exist
    for site, account in _member_accounts(demo):
        assert account not in public, f"{site}/{account} is public in a device or credential"
