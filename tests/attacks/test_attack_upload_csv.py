"""Hostile bills CSV uploaded through the API and the web UI: a line that is not UTF-8,
a NUL byte, a 200,000-character field. As with `bills import`, each is one bad row
named by its line and the good rows around it are recorded."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.access.test_attacks import V1, _web_sign_in
from tests.api_helpers import PASS as API_PASS
from tests.api_helpers import served

HEAD = b"site,account,start,end,amount,unit\n"
GOOD = [
    b"hq,E1,2023-01-01,2023-01-31,1000,kWh\n",
    b"hq,E1,2023-02-01,2023-02-28,900,kWh\n",
]
BAD = {
    "not UTF-8": b"hq,E2,2023-01-01,2023-01-31,5\xff\xfe,kWh\n",
    "NUL byte": b'hq,E3,2023-01-01,2023-01-31,"5\x00",kWh\n',
    "200,000-character field": b'hq,E4,2023-01-01,2023-01-31,"' + b"x" * 200_000 + b'",kWh\n',
}


@pytest.mark.parametrize("bad", list(BAD))
def test_an_api_upload_with_one_hostile_line_records_the_others(tmp_path: Path, bad: str) -> None:
    api = served(tmp_path / "home")
    alice = api.sign_in(api.users["alice"], API_PASS)
    content = HEAD + GOOD[0] + BAD[bad] + GOOD[1]
    res = api.client.post(
        f"{V1}/bills/csv", headers=alice, files={"file": ("bills.csv", content, "text/csv")}
    )
    assert res.status_code == 201, res.text
    assert res.json()["recorded"] == 2
    assert [e["line"] for e in res.json()["rejected"]] == [3]


def test_a_web_upload_with_a_line_that_is_not_utf8_records_the_others(tmp_path: Path) -> None:
    api = served(tmp_path / "home")
    web = _web_sign_in(api.client.app, "acme/alice")
    page = web.get("/upload")
    token = re.search(r'name="csrf_token" value="([0-9a-f]*)"', page.text)
    assert token is not None, page.text[:500]
    content = HEAD + GOOD[0] + BAD["not UTF-8"] + GOOD[1]
    res = web.post(
        "/upload",
        data={"csrf_token": token.group(1), "site": ""},
        files={"file": ("bills.csv", content, "text/csv")},
        follow_redirects=True,
    )
    assert res.status_code < 500, res.text[:300]
    alice = api.sign_in(api.users["alice"], API_PASS)
    records = api.client.get(f"{V1}/records", headers=alice).json()["items"]
    assert len(records) == 2, res.text[:2000]
