"""Ids: what one looks like on the ledger, and ids given by any unique prefix.

Every id a transaction names (organisation, site, token, proposal...) matches
:data:`ID_PATTERN`. Listings show short ids (a record's first 8 hex digits); every command that
takes an id accepts the whole id or any prefix of it that names one thing.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from difflib import get_close_matches

from carbonledger.errors import InvalidInput, NotFound

__all__ = ["ID_PATTERN", "SHORT_ID", "ambiguous", "require_known", "resolve_id"]

#: What an id on the ledger looks like (organisations, sites, tokens, proposals...).
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")

#: Characters of an id shown in listings.
SHORT_ID = 8

# Candidates named in an "ambiguous" error; more are counted, not listed.
_LISTED = 8


def resolve_id(given: str, known: Iterable[str], what: str) -> str:
    """The one id of ``known`` equal to ``given`` or starting with it.

    An exact match wins even when it is also a prefix of a longer id. Raises
    NotFound naming ``given`` when nothing matches, and InvalidInput listing the
    candidates when the prefix names more than one ``what``.
    """
    if not given:
        raise InvalidInput(f"a {what} id is needed (got an empty one)")
    matches: set[str] = set()
    for candidate in known:
        if candidate == given:
            return candidate
        if candidate.startswith(given):
            matches.add(candidate)
    if not matches:
        raise NotFound(f"no {what} with id {given!r}")
    if len(matches) > 1:
        raise InvalidInput(ambiguous(given, matches, what))
    return matches.pop()


def ambiguous(given: str, matches: Iterable[str], what: str) -> str:
    """The message for a prefix that names several ids, listing (some of) them."""
    ordered = sorted(set(matches))
    listed = ", ".join(ordered[:_LISTED])
    more = f" and {len(ordered) - _LISTED} more" if len(ordered) > _LISTED else ""
    return (
        f"{what} id prefix {given!r} is ambiguous: it matches {listed}{more}; give more characters"
    )


def require_known(given: str, known: Collection[str], what: str) -> str:
    """``given`` if it is one of ``known``; else NotFound naming it (and a close match).

    A typo in an organisation, site or user must not read as "nothing there".
    """
    if given in known:
        return given
    close = get_close_matches(given, sorted(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise NotFound(f"unknown {what} {given!r}{hint}")
