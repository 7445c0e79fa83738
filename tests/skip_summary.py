"""One short paragraph at the end of a run: what was skipped, and the command that enables it.

pytest's own ``-rs`` prints a line per skipped test (over a hundred on a fresh machine,
most repeating a handful of reasons); this groups them by what is missing.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

# (words of a skip reason, why in a few words, the command that installs what is missing);
# the first match wins.
SERVICES = "sudo bash scripts/ci-services.sh"
CAUSES: list[tuple[tuple[str, ...], str, str]] = [
    (
        ("anvil", "hardhat", "[evm] extra", "solc", "node_modules"),
        "need anvil, Hardhat or solc (npm)",
        SERVICES,
    ),
    (("postgresql",), "need PostgreSQL", SERVICES),
    (("chromium", "playwright", "browser"), "need Chromium", SERVICES),
    (("schemathesis", "dev dependency"), "need the test tools", "make install-dev"),
    (("aca-py", "acapy"), "need ACA-Py (Python 3.12+ only)", ""),
    (("intentional difference",), "are a backend's documented differences", ""),
]


def _reason(report: Any) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _cause(reason: str) -> tuple[str, str]:
    low = reason.lower()
    for words, what, command in CAUSES:
        if any(w in low for w in words):
            return what, command
    return f"skipped ({reason})", ""


def _agree(why: str, n: int) -> str:
    """The verb of ``why`` agreeing with ``n`` ("1 needs", "2 need")."""
    if n != 1:
        return why
    verb, _, rest = why.partition(" ")
    return f"{ {'need': 'needs', 'are': 'is'}.get(verb, verb) } {rest}"


def paragraph(reports: list[Any]) -> str:
    """The summary of ``reports`` (pytest's skipped test reports), or '' when none."""
    if not reports:
        return ""
    counts = Counter(_cause(_reason(r)) for r in reports)
    parts = [f"{n} {_agree(why, n)}" for (why, _c), n in counts.most_common()]
    commands = sorted({c for (_w, c) in counts if c})
    total = len(reports)
    text = f"{total} test{'s' if total != 1 else ''} skipped: " + "; ".join(parts) + "."
    if commands:
        text += " To run them: " + " and ".join(f"`{c}`" for c in commands) + ", then `make test`."
    return text
