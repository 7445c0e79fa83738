"""Ids typed on the command line: the whole id or any unique prefix of it."""

from __future__ import annotations

from carbonledger.core.ids import require_known, resolve_id
from carbonledger.core.state import LedgerState

__all__ = ["known_org", "known_site", "proposal_id", "token_id"]

_PROPOSAL = "proposal:"


def token_id(state: LedgerState, given: str) -> str:
    """The token whose id is ``given`` or the only one starting with it."""
    return resolve_id(given, (t for t in state.tokens if not t.startswith("@")), "token")


def proposal_id(state: LedgerState, given: str) -> str:
    """The DAO proposal whose id is ``given`` or the only one starting with it."""
    known = (k.removeprefix(_PROPOSAL) for k in state.dao if k.startswith(_PROPOSAL))
    return resolve_id(given, known, "proposal")


def known_org(state: LedgerState, org: str | None) -> str | None:
    """``org`` (None passes) if it is a registered organisation; else NotFound naming it."""
    return None if org is None else require_known(org, state.orgs, "organisation")


def known_site(state: LedgerState, site: str | None) -> str | None:
    """``site`` (None passes) if it is a registered site; else NotFound naming it."""
    return None if site is None else require_known(site, state.sites, "site")
