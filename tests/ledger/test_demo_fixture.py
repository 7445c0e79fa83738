"""A ledger written before the items were typed still reads, re-encodes and verifies byte for byte.

``tests/data/demo_ledger/`` holds the home of ``carbonledger demo`` as it ran on the
main branch (commit 16094ea) just before the item kinds were defined in ``core.items``
and built by ``core.builders`` (ledger.db gzipped, its config and the witnessed
checkpoint). Every
leaf is read from the raw SQLite file, decoded against its kind's shape, rebuilt
through the builder services now use for its kind (from the fields the old code
wrote) and encoded again: the bytes must be those on disk. Then ``verify`` replays
the whole ledger through today's rules.
"""

from __future__ import annotations

import gzip
import shutil
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args, get_type_hints

import pytest

from carbonledger.core import builders
from carbonledger.core.builders import decode_item
from carbonledger.core.canonical import canonical
from carbonledger.core.items import ITEM_TYPES, TokenItem
from carbonledger.core.tokens.model import TOKEN_TYPES
from carbonledger.errors import InvalidInput
from tests.cli_helpers import Run, _ok, cli  # noqa: F401 - cli is a fixture

FIXTURE = Path(__file__).parents[1] / "data" / "demo_ledger"


@pytest.fixture(scope="module")
def leaves(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, bytes]]:
    db = tmp_path_factory.mktemp("fixture") / "ledger.db"
    db.write_bytes(gzip.decompress((FIXTURE / "ledger.db.gz").read_bytes()))
    with sqlite3.connect(db) as conn:
        return [(str(k), bytes(d)) for k, d in conn.execute("SELECT kind, data FROM leaf")]


def _rec(i: dict[str, Any]) -> Any:
    return builders.rec_token(
        token_id=i["id"], to=i["to"], mwh=i["amount"], facility=i["facility"]["name"],
        facility_id=i["facility"]["id"], grid_region=i["grid_region"],
        generation=builders.period(i["generation"]["start"], i["generation"]["end"]),
        technology=i["technology"], registry=i["registry"],
        serials=builders.serial(i["serial"]["prefix"], i["serial"]["start"], i["amount"]),
    )  # fmt: skip


def _offset(i: dict[str, Any]) -> Any:
    return builders.offset_token(
        token_id=i["id"], to=i["to"], tonnes=i["amount"], directory=i["directory"],
        project=i["project"], project_proof=i["project_proof"], vintage=i["vintage"],
        registry=i["registry"],
        serials=builders.serial(i["serial"]["prefix"], i["serial"]["start"], i["amount"]),
    )  # fmt: skip


def _audited(i: dict[str, Any]) -> Any:
    return builders.audited_token(
        token_id=i["id"], mg_co2e=i["amount"], org=i["org"], scope=i["scope"],
        audited=builders.period(i["period"]["start"], i["period"]["end"]),
        manifest=i["manifest"], **({"report": i["report"]} if "report" in i else {}),
    )  # fmt: skip


def _token(i: dict[str, Any]) -> Any:
    return {"REC": _rec, "OFFSET": _offset, "AUDITED_EMISSIONS": _audited}[i["type"]](i)


def _retirement(i: dict[str, Any]) -> Any:
    s = i["serial"]
    return builders.token_retirement(
        retirement_id=i["id"], token=i["token"], holder=i["holder"], amount=i["amount"],
        serials=None if s is None else builders.serial(s["prefix"], s["start"], i["amount"]),
        beneficiary=i["beneficiary"], reason=i["reason"], org=i["org"], site=i["site"],
        claimed=None if i["period"] is None else builders.period(**i["period"]),
    )  # fmt: skip


#: How today's builder makes each kind it builds, from the fields the old code wrote.
REBUILD: dict[str, Callable[[dict[str, Any]], Any]] = {
    "token": _token,
    "token_retirement": _retirement,
    "token_transfer": lambda i: builders.token_transfer(
        transfer_id=i["id"], token=i["token"], sender=i["from"], to=i["to"], amount=i["amount"]
    ),
    "dao_setup": lambda i: builders.dao_setup(
        name=i["name"], symbol=i["symbol"], params=i["params"]
    ),
    "dao_issue": lambda i: builders.dao_issue(issue_id=i["id"], to=i["to"], amount=i["amount"]),
    "proposal": lambda i: builders.proposal(
        proposal_id=i["id"],
        title=i["title"],
        description=i["description"],
        parts=i["parts"],
        projects=i["projects"],
    ),
    "vote": lambda i: builders.vote(
        proposal_id=i["proposal"], amount=i["amount"], choices=i["choices"]
    ),
    "dao_queue": lambda i: builders.dao_act("dao_queue", i["proposal"]),
    "dao_execute": lambda i: builders.dao_act("dao_execute", i["proposal"]),
    "dao_release": lambda i: builders.dao_act("dao_release", i["proposal"]),
}


def test_the_fixture_holds_every_kind_the_demo_writes(leaves: list[tuple[str, bytes]]) -> None:
    kinds = Counter(kind for kind, _ in leaves)
    # The demo's story (README "Quick start"): 276 leaves, among them 158 emissions
    # records, 5 tokens (REC, OFFSET and audited), a DAO proposal voted and executed.
    assert len(leaves) == 276
    assert kinds["emissions_record"] == 158
    assert kinds["token"] == 5
    assert set(kinds) - set(ITEM_TYPES) == set()
    assert set(REBUILD) <= set(kinds)


def test_every_item_decodes_to_its_shape_and_re_encodes_to_the_same_bytes(
    leaves: list[tuple[str, bytes]],
) -> None:
    rebuilt: Counter[str] = Counter()
    for n, (kind, data) in enumerate(leaves):
        item = decode_item(data, f"leaf {n}")
        assert item["kind"] == kind
        assert canonical(item) == data
        if kind in REBUILD:
            assert canonical(REBUILD[kind](item)) == data, f"leaf {n} ({kind})"
            rebuilt[kind] += 1
    assert rebuilt["token"] == 5
    assert rebuilt["vote"] == 3


def test_the_token_shape_names_exactly_the_token_types() -> None:
    assert set(get_args(get_type_hints(TokenItem)["type"])) == set(TOKEN_TYPES)


def test_the_decoder_refuses_an_unknown_field_a_missing_one_and_an_unknown_kind() -> None:
    vote = canonical({"kind": "vote", "proposal": "p", "amount": 1, "choices": ["for"]})
    assert decode_item(vote)["proposal"] == "p"
    with pytest.raises(InvalidInput, match="has no field weight"):
        decode_item(vote[:-1] + b',"weight":2}')
    with pytest.raises(InvalidInput, match="lacks choices"):
        decode_item(canonical({"kind": "vote", "proposal": "p", "amount": 1}))
    with pytest.raises(InvalidInput, match="unknown kind 'bribe'"):
        decode_item(canonical({"kind": "bribe"}))


def test_the_demo_ledger_made_before_still_verifies(tmp_path: Path, cli: Run) -> None:  # noqa: F811
    home = tmp_path / "home"
    shutil.copytree(FIXTURE, home, ignore=shutil.ignore_patterns("*.gz"))
    (home / "ledger.db").write_bytes(gzip.decompress((FIXTURE / "ledger.db.gz").read_bytes()))
    out = _ok(cli("verify")).stdout
    assert "OK 62 entries, 276 leaves, 62 checkpoints, 6 sealed blobs" in " ".join(out.split())
