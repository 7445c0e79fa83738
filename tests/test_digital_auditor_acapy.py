"""Interoperability with Hyperledger Aries (ACA-Py): optional, runs only where ACA-Py imports.

ACA-Py needs Python 3.12+, so on the project's Python 3.11 machines these tests
are skipped with that reason. Where it is installed (``acapy_agent``, or the
older ``aries_cloudagent``), a meter-readings credential issued here must verify
in ACA-Py's Data Integrity manager (``eddsa-jcs-2022``), and one ACA-Py signs
with a ``did:key`` Ed25519 key must verify here.
"""

from __future__ import annotations

import asyncio
import importlib
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest

from carbonledger.credentials import Ed25519Signer, issue, meter_readings_credential, verify


def _acapy() -> ModuleType:
    for name in ("acapy_agent", "aries_cloudagent"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    pytest.skip(
        "ACA-Py (acapy_agent / aries_cloudagent) is not importable: it needs Python 3.12+,"
        " and this interpreter is Python 3.11; install it on 3.12+ to run the interop tests"
    )


def _credential(signer: Ed25519Signer) -> dict[str, Any]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return meter_readings_credential(
        issuer=signer.did,
        meter_id="E1",
        site_id="hq",
        interval_seconds=3600,
        readings=[(start + timedelta(hours=h), "1000") for h in range(24)],
        valid_from=start + timedelta(days=1),
    )


def _run(coro: Any) -> Any:
    return asyncio.new_event_loop().run_until_complete(coro)


def test_our_credentials_verify_in_acapy() -> None:
    root = _acapy().__name__
    testing = importlib.import_module(f"{root}.utils.testing")
    manager = importlib.import_module(f"{root}.vc.data_integrity.manager")
    meter = Ed25519Signer.from_seed(b"\x31" * 32)
    signed = issue(_credential(meter), meter)

    async def check() -> Any:
        profile = await testing.create_test_profile()
        async with profile.session() as session:
            return await manager.DataIntegrityManager(session).verify_proof(signed)

    result = _run(check())
    assert result.verified, result


def test_acapy_credentials_verify_here() -> None:
    root = _acapy().__name__
    testing = importlib.import_module(f"{root}.utils.testing")
    manager = importlib.import_module(f"{root}.vc.data_integrity.manager")
    options_mod = importlib.import_module(f"{root}.vc.data_integrity.models.options")
    keys = importlib.import_module(f"{root}.wallet.keys.manager")
    seed = "00000000000000000000000000000031"

    async def sign() -> dict[str, Any]:
        profile = await testing.create_test_profile()
        async with profile.session() as session:
            key = await keys.MultikeyManager(session).create(seed=seed, alg="ed25519")
            did = f"did:key:{key['multikey']}"
            unsigned = _credential(Ed25519Signer.generate())
            unsigned["issuer"] = did
            options = options_mod.DataIntegrityProofOptions(
                type="DataIntegrityProof",
                cryptosuite="eddsa-jcs-2022",
                proof_purpose="assertionMethod",
                verification_method=f"{did}#{key['multikey']}",
            )
            signed: dict[str, Any] = await manager.DataIntegrityManager(session).add_proof(
                unsigned, options
            )
            return signed

    signed = _run(sign())
    result = verify(signed)
    assert result.ok, result.errors
