"""An auditor whose grant has ended crawls every GET route of the API (from its OpenAPI
document) and every web page linked from the pages it can reach, and tries to run an
audit: no bill recorded after the end shows its billed amount anywhere, nothing
answers 500, and no read is recorded once the grant has ended."""

from __future__ import annotations

import re
from pathlib import Path

from tests.access.test_attacks import V1, _reads, _soon, _wait_past, _web_sign_in
from tests.api_helpers import PASS as API_PASS
from tests.api_helpers import served

AMOUNT = "123457"  # the later bill's kWh: a number no other figure on these pages has
PARAMS = {"record_id": None, "channel": "acme", "org": "acme", "org_id": "acme", "site": "hq"}


def test_an_expired_auditor_finds_no_later_bill_through_any_api_route_or_page(
    tmp_path: Path,
) -> None:
    api = served(tmp_path / "home")
    dana = api.users["dana"]
    admin = api.sign_in(api.admin, API_PASS)
    until = _soon(6)
    access = {"member": dana.address, "role": "auditor", "until": until}
    assert api.client.post(f"{V1}/channels/acme/grants", headers=admin, json=access).is_success
    _wait_past(until)
    alice = api.sign_in(api.users["alice"], API_PASS)
    bill = {"site": "hq", "account": "E1", "start": "2023-02-01", "end": "2023-02-28",
            "amount": AMOUNT, "unit": "kWh"}  # fmt: skip
    assert api.client.post(f"{V1}/bills", headers=alice, json=[bill]).status_code == 201
    (record,) = api.client.get(f"{V1}/records", headers=alice).json()["items"]
    reads_before = len(_reads(api.ctx.ledger))
    theirs = api.sign_in(dana, API_PASS)
    values = {**PARAMS, "record_id": record["id"]}

    spec = api.client.get("/openapi.json").json()
    crawled = 0
    for path, ops in spec["paths"].items():
        if "get" not in ops:
            continue
        names = re.findall(r"{(\w+)}", path)
        if any(values.get(n) is None for n in names):
            continue
        url = path.format(**{n: values[n] for n in names})
        res = api.client.get(url, headers=theirs)
        crawled += 1
        assert res.status_code < 500, (url, res.status_code, res.text[:300])
        assert AMOUNT not in res.text, (url, res.text[:500])
    assert crawled > 10

    audit = api.client.post(f"{V1}/audits", headers=theirs, json={"org": "acme"})
    assert audit.status_code < 500, audit.text
    assert AMOUNT not in audit.text

    web = _web_sign_in(api.client.app, "audits/dana")
    seen: set[str] = set()
    queue = ["/", f"/records/{record['id']}"]
    while queue and len(seen) < 60:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        page = web.get(url)
        assert page.status_code < 500, (url, page.text[:300])
        assert AMOUNT not in page.text, url
        for link in re.findall(r'href="(/[^"#?]*)"', page.text):
            if not link.startswith(("/static", "/docs", "/signout", "/api")):
                queue.append(link)
    assert len(seen) > 3
    assert len(_reads(api.ctx.ledger)) == reads_before  # nothing read, nothing recorded
