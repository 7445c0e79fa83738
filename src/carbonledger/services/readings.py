"""Posting meter readings and bills as credentials, then checking the readings at once.

The API (``POST /api/v1/readings``) and the CLI (``vc post``, ``vc import``) both
call :func:`post_and_check`: the credentials are checked, sealed and anchored
(:func:`carbonledger.services.devices.post_credentials`), then every meter-readings
credential that was accepted is compared with the bills recorded for its meter
(:class:`carbonledger.services.readings_monitor.ReadingsMonitor`), in the channel
of its site's organisation. A refused credential is reported once, as refused;
it is not evidence for or against a bill.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from carbonledger.crypto.keys import PrivateKey
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import LedgerPort
from carbonledger.services.devices import PostReport, post_credentials
from carbonledger.services.readings_monitor import ReadingsMonitor

__all__ = ["METER_READINGS_TYPE", "post_and_check"]

METER_READINGS_TYPE = "MeterReadingsCredential"


def post_and_check(
    ledger: LedgerPort,
    store: ChannelStore,
    key: PrivateKey,
    credentials: Sequence[Mapping[str, Any]],
    *,
    org: str | None = None,
) -> PostReport:
    """Post ``credentials`` signed by ``key``; the report's ``events`` say what each
    accepted reading showed (``mismatch`` first, ``verified``, ``pending``, ``invalid``).

    ``org`` names the channel that seals them (else each one's site's organisation).
    """
    report = post_credentials(ledger, store, key, credentials, org=org)
    refused = {index for index, _ in report.rejected}
    sites = ledger.state().sites
    monitors: dict[str, ReadingsMonitor] = {}
    for n, credential in enumerate(credentials):
        if n in refused or METER_READINGS_TYPE not in (credential.get("type") or ()):
            continue
        subject = credential.get("credentialSubject")
        site_id = subject.get("siteId") if isinstance(subject, Mapping) else None
        site = None if site_id is None else sites.get(str(site_id))
        channel = org or (None if site is None else site.get("org"))
        if channel is None:
            continue  # accepted without a site of this ledger: nothing to compare with
        monitor = monitors.get(str(channel))
        if monitor is None:
            monitor = monitors[str(channel)] = ReadingsMonitor(ledger, store, key, str(channel))
        report.events.extend(monitor.observe(dict(credential)))
    return report
