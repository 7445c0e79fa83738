"""Hostile XML in Green Button files: entity expansion (billion laughs, quadratic
blow-up), external entities and DTDs, XInclude, deep nesting. `greenbutton show` and
`greenbutton import` must each stop with one line naming the file, read no other file,
fetch nothing, and record nothing."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.cli_helpers import Run, _clean, _ok, acme_home

SECRET = "s3cret-do-not-leak-7f1c"
FEED = '<feed xmlns="http://www.w3.org/2005/Atom">{body}</feed>'


def _laughs() -> str:
    ents = ['<!ENTITY lol0 "lol">']
    ents += [f'<!ENTITY lol{n} "{("&lol" + str(n - 1) + ";") * 10}">' for n in range(1, 10)]
    return f"<!DOCTYPE feed [{''.join(ents)}]>" + FEED.format(body="<title>&lol9;</title>")


def _cases(secret: Path) -> dict[str, str]:
    return {
        "billion laughs": _laughs(),
        "quadratic blow-up": '<!DOCTYPE feed [<!ENTITY a "'
        + "x" * 100_000
        + '">]>'
        + FEED.format(body="<title>" + "&a;" * 10_000 + "</title>"),
        "external entity": f'<!DOCTYPE feed [<!ENTITY x SYSTEM "file://{secret}">]>'
        + FEED.format(body="<title>&x;</title>"),
        "parameter entity": f'<!DOCTYPE feed [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>'
        + FEED.format(body=""),
        "external DTD": '<!DOCTYPE feed SYSTEM "http://127.0.0.1:9/evil.dtd">'
        + FEED.format(body=""),
        "XInclude": FEED.format(
            body=f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{secret}"'
            ' parse="text"/>'
        ),
        "nested 200000 deep": FEED.format(body="<a>" * 200_000 + "</a>" * 200_000),
        "not XML at all": "\x00\x01\x02" * 1000,
    }


@pytest.mark.parametrize("command", ["show", "import"])
@pytest.mark.parametrize(
    "case",
    [
        "billion laughs",
        "quadratic blow-up",
        "external entity",
        "parameter entity",
        "external DTD",
        "XInclude",
        "nested 200000 deep",
        "not XML at all",
    ],
)
def test_hostile_xml_is_one_line_and_records_nothing(
    cli: Run, tmp_path: Path, case: str, command: str
) -> None:
    acme_home(tmp_path / "home", cli)
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    bad = tmp_path / "bad.xml"
    bad.write_text(_cases(secret)[case])
    args = ["greenbutton", command, str(bad)]
    if command == "import":
        args += ["--site", "hq"]
    res = cli(*args)
    out = res.stdout + res.stderr
    assert SECRET not in out
    assert "Traceback" not in out
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    if case == "XInclude":
        # XInclude is not processed: a feed with no readings, and nothing read from disk
        assert res.exit_code in (0, 1, 2), out
    else:
        assert res.exit_code == 2, out
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1, res.stderr
        assert str(bad) in _clean(lines[0])
    records = orjson.loads(_ok(cli("records", "list", "--json", "--limit", "0")).stdout)
    assert records == []
