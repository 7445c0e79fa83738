"""Attacks on proof documents checked offline by ``carbonledger check-proof``: every
single field changed, fields removed so a check is skipped, values of the wrong type,
and a proof checked with ``--log`` against a ledger rolled back below it."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.cli_helpers import Run, _clean, _ok, acme_home

# Carried for the reader, not claimed by check-proof (README: path, checkpoint, note,
# the transaction's signature and the item's place in it, basis, revealed details):
# the transaction's ledger sequence number, entry hash and time, and its item count
# outside the signed body.
# The transaction's place in the ledger is shown for reference; the README says it is not
# checked offline (only --log or verify vouch for it). Its item count is checked.
UNCLAIMED = {("tx", "seq"), ("tx", "entry_hash"), ("tx", "ledger_time")}


@pytest.fixture
def proof(cli: Run, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A home with one recorded bill and a proof of it with its details revealed."""
    home = acme_home(tmp_path / "home", cli)
    bills = tmp_path / "bills.csv"
    bills.write_text("site,account,start,end,amount,unit\nhq,A1,2023-01-01,2023-01-31,1000,kWh\n")
    _ok(cli("bills", "import", str(bills)))
    rid = orjson.loads(_ok(cli("records", "list", "--json")).stdout)[0]["id"]
    out = tmp_path / "proof.json"
    _ok(cli("proof", rid, "--reveal", "-o", str(out)))
    _ok(cli("check-proof", str(out)))  # the honest document holds
    return home, orjson.loads(out.read_bytes())


def _scalars(x: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _scalars(v, (*path, k))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _scalars(v, (*path, i))
    else:
        yield path, x


def _changed(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    target: Any = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


def _check(cli: Run, tmp_path: Path, doc: dict[str, Any]) -> tuple[int, str]:
    f = tmp_path / "m.json"
    f.write_text(json.dumps(doc))  # json: integers beyond 64 bits too
    res = cli("check-proof", str(f))
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.stdout + res.stderr
    return res.exit_code, _clean(res.stdout + res.stderr)


def _flip(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    text = str(value)
    # change one character in the middle, where no format rule forgives it
    i = len(text) // 2
    return text[:i] + ("1" if text[i : i + 1] != "1" else "2") + text[i + 1 :]


def test_changing_any_claimed_field_of_a_proof_is_refused(
    cli: Run, tmp_path: Path, proof: tuple[Path, dict[str, Any]]
) -> None:
    _, doc = proof
    passed = []
    for path, value in _scalars(doc):
        if path[:2] in UNCLAIMED:
            continue
        code, out = _check(cli, tmp_path, _changed(doc, path, _flip(value)))
        if code == 0:
            passed.append((path, out))
    assert passed == []


@pytest.mark.parametrize(
    ("removed", "message"),
    [
        (("tx",), "carries no signed transaction"),
        (("basis",), "without the calculation basis"),
    ],
)
def test_removing_a_part_does_not_skip_its_check(
    cli: Run,
    tmp_path: Path,
    proof: tuple[Path, dict[str, Any]],
    removed: tuple[str],
    message: str,
) -> None:
    _, doc = proof
    code, out = _check(cli, tmp_path, _changed(doc, removed, None))
    assert code != 0, out
    assert message in out, out
    code, out = _check(cli, tmp_path, _changed(doc, removed, {}))
    assert code != 0, out
    # revealed details changed and the basis dropped: still no "recompute"
    forged = _changed(_changed(doc, ("detail", "amount"), "999999"), removed, None)
    code, out = _check(cli, tmp_path, forged)
    assert code != 0, out
    assert "recompute" not in out.replace("not recompute", ""), out


def test_values_of_the_wrong_type_are_one_line_errors(
    cli: Run, tmp_path: Path, proof: tuple[Path, dict[str, Any]]
) -> None:
    _, doc = proof
    for path, value in _scalars(doc):
        if path[:2] in UNCLAIMED:
            continue
        for wrong in ([1], {"a": 1}, None, 10**30, -1):
            if wrong == value:
                continue
            code, out = _check(cli, tmp_path, _changed(doc, path, wrong))
            assert code != 0, (path, wrong, out)


def test_a_proof_checked_against_a_rolled_back_ledger_is_refused(
    cli: Run, tmp_path: Path, proof: tuple[Path, dict[str, Any]]
) -> None:
    home, doc = proof
    before = tmp_path / "before"
    shutil.copytree(home, tmp_path / "snapshot")
    # the proof names the current tree; the operator then restores an older copy
    _ok(cli("org", "add", "late", "--name", "Late"))
    later = tmp_path / "later.json"
    rid = orjson.loads(_ok(cli("records", "list", "--json")).stdout)[0]["id"]
    _ok(cli("proof", rid, "-o", str(later)))
    shutil.copytree(tmp_path / "snapshot", before)
    res = _ok(cli("check-proof", str(later), "--log", str(before)), 2)
    assert "is not a later tree of this log" in _clean(res.stderr)
    assert doc["tree_size"] < orjson.loads(later.read_bytes())["tree_size"]


@pytest.mark.parametrize(
    "args",
    [
        ["--witness", "garbage"],
        ["--witness", "a+b+c"],
        ["--witness", "witness+00000000+AAAA"],
        ["--witness", ""],
        ["--log", "http://127.0.0.1:9/"],
        ["--log", "/nonexistent/home"],
        ["--signer", "not an address"],
    ],
)
def test_hostile_options_to_check_proof_are_one_line(
    cli: Run, tmp_path: Path, proof: tuple[Path, dict[str, Any]], args: list[str]
) -> None:
    _, doc = proof
    f = tmp_path / "p.json"
    f.write_text(json.dumps(doc))
    res = _ok(cli("check-proof", str(f), *args), 2)
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr


@pytest.mark.parametrize("content", [b"\xff\xfe", b"[1]", b"", b"{" * 100_000, b"null"])
def test_a_file_that_is_no_proof_document_is_one_line(
    cli: Run, tmp_path: Path, content: bytes
) -> None:
    f = tmp_path / "p.json"
    f.write_bytes(content)
    res = _ok(cli("check-proof", str(f)), 2)
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
