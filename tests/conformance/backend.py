"""The whole conformance suite of the ledger port: subclass :class:`BackendConformance` once
per backend and provide its ``backend`` fixture (see :data:`tests.conformance.world.Backend`).

Its parts: :class:`~tests.conformance.suite.LedgerConformance` (registration, identities,
records, channels, tokens, the DAO's rules), :class:`~tests.conformance.suite_log.LogConformance`
(appends, persistence, proofs), :class:`~tests.conformance.suite_tokens.TokenReportConformance`
(Scope 2 and net reports read back) and :class:`~tests.conformance.suite_dao.DaoConformance`
(proposals that issue offsets), :class:`~tests.conformance.suite_nodes.NodeConformance`
(nodes announced on the ledger). Each part uses the suite's ``w`` fixture.
"""

from __future__ import annotations

from tests.conformance.suite import LedgerConformance
from tests.conformance.suite_dao import DaoConformance
from tests.conformance.suite_log import LogConformance
from tests.conformance.suite_nodes import NodeConformance
from tests.conformance.suite_tokens import TokenReportConformance


class BackendConformance(
    LedgerConformance, LogConformance, TokenReportConformance, DaoConformance, NodeConformance
):
    """Every conformance test, on the backend of the subclass's ``backend`` fixture."""
