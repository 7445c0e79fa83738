"""Directly signed transactions posted to ``POST /api/v1/transactions`` in forms the
ledger must refuse even though the signature holds over the bytes sent: a body or an
item that is not canonical JSON, a replay, signatures of the wrong length, a nonce past
64 bits. Each is a 4xx problem document and leaves the ledger as it was."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from carbonledger.core.canonical import canonical
from carbonledger.core.domain import Site
from carbonledger.core.merkle import leaf_hash, root_from_leaf_hashes
from carbonledger.core.tx import build_tx, signing_digest, utc_now
from carbonledger.crypto.keys import PrivateKey
from tests.api_helpers import Served, served

V1 = "/api/v1"


def _site_tx(api: Served, site: str, nonce: int | None = None) -> dict[str, Any]:
    state = api.ctx.ledger.state()
    tx = build_tx(
        api.admin,
        tx_type="register_site",
        ledger_id=str(state.ledger_id),
        nonce=state.next_nonce(api.admin.address) if nonce is None else nonce,
        created=utc_now(),
        items=[Site(site, "acme", site.upper(), "US", "60601", utility_id="4110").item()],
    )
    return {
        "body": tx.body_bytes.decode(),
        "items": [i.decode() for i in tx.items],
        "signature": tx.signature.hex(),
    }


def _resign(key: PrivateKey, body: str, items: list[str]) -> dict[str, Any]:
    """Sign ``body`` exactly as given, its items_root over ``items`` exactly as given."""
    parsed = orjson.loads(body)
    root = root_from_leaf_hashes([leaf_hash(i.encode()) for i in items]).hex()
    body = body.replace(parsed["items_root"], root)
    sig = key.sign_digest(signing_digest(body.encode())).hex()
    return {"body": body, "items": items, "signature": sig}


def _spaced_body(api: Served, tx: dict[str, Any]) -> dict[str, Any]:
    return _resign(api.admin, tx["body"].replace(",", ", ", 1), tx["items"])


def _duplicate_key_item(api: Served, tx: dict[str, Any]) -> dict[str, Any]:
    item = tx["items"][0].replace('{"', '{"kind":"organisation","', 1)
    return _resign(api.admin, tx["body"], [item])


def _reordered_item(api: Served, tx: dict[str, Any]) -> dict[str, Any]:
    item = orjson.loads(tx["items"][0])
    backwards = (
        "{"
        + ",".join(
            f"{canonical(k).decode()}:{canonical(v).decode()}" for k, v in reversed(item.items())
        )
        + "}"
    )
    return _resign(api.admin, tx["body"], [backwards])


FORGERIES: dict[str, Callable[[Served, dict[str, Any]], dict[str, Any]]] = {
    "body with a space": _spaced_body,
    "item with a duplicate key": _duplicate_key_item,
    "item with its keys reordered": _reordered_item,
    "signature 64 bytes": lambda api, tx: {**tx, "signature": tx["signature"][:128]},
    "signature 66 bytes": lambda api, tx: {**tx, "signature": tx["signature"] + "00"},
    "signature empty": lambda api, tx: {**tx, "signature": ""},
    "signature not hex": lambda api, tx: {**tx, "signature": "zz" * 65},
    "items missing": lambda api, tx: {**tx, "items": []},
    "an extra item": lambda api, tx: {**tx, "items": [*tx["items"], tx["items"][0]]},
}


@pytest.mark.parametrize("name", list(FORGERIES))
def test_a_signed_transaction_in_a_forbidden_form_is_refused_and_changes_nothing(
    tmp_path: Path, name: str
) -> None:
    api = served(tmp_path / "home")
    before = api.ctx.ledger.verify()
    res = api.client.post(f"{V1}/transactions", json=FORGERIES[name](api, _site_tx(api, "evil")))
    assert 400 <= res.status_code < 500, (res.status_code, res.text)
    assert res.headers["content-type"].startswith("application/problem+json")
    after = api.ctx.ledger.verify()
    assert after.ok
    assert after.leaves == before.leaves
    assert "evil" not in {s["id"] for s in api.client.get(f"{V1}/sites").json()}
    # the honest transaction still goes through afterwards
    good = api.client.post(f"{V1}/transactions", json=_site_tx(api, "depot"))
    assert good.status_code == 201, good.text


def test_a_replayed_or_far_future_nonce_is_refused(tmp_path: Path) -> None:
    api = served(tmp_path / "home")
    tx = _site_tx(api, "depot")
    assert api.client.post(f"{V1}/transactions", json=tx).status_code == 201
    size = api.ctx.ledger.verify().leaves
    replay = api.client.post(f"{V1}/transactions", json=tx)
    assert 400 <= replay.status_code < 500, replay.text
    near = _site_tx(api, "far", nonce=987654)
    # a nonce past 64 bits cannot be built canonically here: write it into the bytes
    huge = near["body"].replace('"nonce":987654', f'"nonce":{2**70}')
    assert huge != near["body"]
    forged = _resign(api.admin, huge, near["items"])
    far = api.client.post(f"{V1}/transactions", json=forged)
    assert 400 <= far.status_code < 500, far.text
    after = api.ctx.ledger.verify()
    assert after.ok
    assert after.leaves == size
