"""Attacks on channel grants through the API: a member granting itself or an outsider
auditor access, a grant that has already ended or ends before it starts, an auditor
revoking the organisation's own members. Each is refused with a problem document, and
the refused caller reads nothing sealed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.access.test_attacks import V1
from tests.api_helpers import PASS as API_PASS
from tests.api_helpers import served

AMOUNT = "123457"


def _at(seconds: float) -> str:
    when = datetime.now(UTC) + timedelta(seconds=seconds)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("granter", "until"),
    [
        ("alice", None),  # a member, not the organisation's admin
        ("dana", None),  # the auditor granting itself
        ("admin", "past"),  # a grant that has already ended
        ("admin", "not a time"),
    ],
)
def test_grants_that_must_not_be_given_are_refused(
    tmp_path: Path, granter: str, until: str | None
) -> None:
    api = served(tmp_path / "home")
    dana = api.users["dana"]
    key = api.admin if granter == "admin" else api.users[granter]
    headers = api.sign_in(key, API_PASS)
    end = {None: _at(3600), "past": _at(-3600), "not a time": "tomorrow"}[until]
    access = {"member": dana.address, "role": "auditor", "until": end}
    res = api.client.post(f"{V1}/channels/acme/grants", headers=headers, json=access)
    assert 400 <= res.status_code < 500, (res.status_code, res.text)
    assert res.headers["content-type"].startswith("application/problem+json")
    # dana still reads nothing sealed
    alice = api.sign_in(api.users["alice"], API_PASS)
    bill = {"site": "hq", "account": "E1", "start": "2023-01-01", "end": "2023-01-31",
            "amount": AMOUNT, "unit": "kWh"}  # fmt: skip
    assert api.client.post(f"{V1}/bills", headers=alice, json=[bill]).status_code == 201
    (record,) = api.client.get(f"{V1}/records", headers=alice).json()["items"]
    theirs = api.sign_in(dana, API_PASS)
    assert AMOUNT not in api.client.get(f"{V1}/records/{record['id']}", headers=theirs).text


def test_an_auditor_cannot_revoke_the_organisations_members(tmp_path: Path) -> None:
    api = served(tmp_path / "home")
    admin = api.sign_in(api.admin, API_PASS)
    dana = api.users["dana"]
    access = {"member": dana.address, "role": "auditor", "until": _at(3600)}
    assert api.client.post(f"{V1}/channels/acme/grants", headers=admin, json=access).is_success
    theirs = api.sign_in(dana, API_PASS)
    alice = api.users["alice"].address
    res = api.client.delete(f"{V1}/channels/acme/members/{alice}", headers=theirs)
    assert 400 <= res.status_code < 500, (res.status_code, res.text)
    # alice still reads her bills
    headers = api.sign_in(api.users["alice"], API_PASS)
    bill = {"site": "hq", "account": "E1", "start": "2023-01-01", "end": "2023-01-31",
            "amount": AMOUNT, "unit": "kWh"}  # fmt: skip
    assert api.client.post(f"{V1}/bills", headers=headers, json=[bill]).status_code == 201
    (record,) = api.client.get(f"{V1}/records", headers=headers).json()["items"]
    assert AMOUNT in api.client.get(f"{V1}/records/{record['id']}", headers=headers).text
