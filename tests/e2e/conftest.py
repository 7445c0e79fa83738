"""A real server and a real Chromium for the browser tests.

The session builds a demo ledger in a temporary directory (plus the token story
when its service exists and the demo did not run it), serves API and UI with
uvicorn on a free loopback port in a background thread, and launches Debian's
``/usr/bin/chromium`` through the playwright package. Without that browser the
tests are skipped, naming it (CI installs it).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSPHRASE = "demo"

_MISSING = (
    f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"
    if not CHROMIUM.exists()
    else "browser tests need the playwright Python package"
    if importlib.util.find_spec("playwright") is None
    else ""
)
if _MISSING and os.environ.get("CARBONLEDGER_REQUIRE_BROWSER"):
    raise RuntimeError(f"{_MISSING}; CARBONLEDGER_REQUIRE_BROWSER is set, so this is an error")
if _MISSING:
    pytest.skip(reason=f"{_MISSING}; CI installs it", allow_module_level=True)


@dataclass
class Served:
    url: str
    home: Any
    features: dict[str, str] = field(default_factory=dict)  # feature -> why it is missing


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _token_story(home: Any) -> str:
    """Run the token part of the demo if its service exists; '' or why it could not."""
    if importlib.util.find_spec("carbonledger.demo.tokens") is None:
        return "carbonledger.demo.tokens (the token service's demo) is not available"
    from carbonledger.crypto.keys import PrivateKey
    from carbonledger.crypto.keystore import encrypt_key, save_keystore
    from carbonledger.demo.tokens import run_token_demo
    from carbonledger.services.identity import enroll, make_enrolment_request, register_user

    admin = home.key(PASSPHRASE)
    ledger = home.ledger(admin)
    try:
        if ledger.state().tokens:
            return ""  # the demo already ran it

        def enrol(org: str, name: str, roles: list[str]) -> PrivateKey:
            secret = register_user(ledger, admin, org=org, name=name, roles=roles)
            key, request = make_enrolment_request(org, name, secret)
            certificate = home.ca.issue(ledger, request, PASSPHRASE)
            path = home.user_keystore(org, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            save_keystore(path, encrypt_key(key, PASSPHRASE, n=2**12))
            enroll(ledger, key, request, certificate)
            return key

        run_token_demo(ledger, ledger.channels, admin, home, PASSPHRASE, enroll=enrol)
    finally:
        ledger.close()
    return ""


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    import uvicorn

    from carbonledger.api import create_app
    from carbonledger.api.context import AppContext
    from carbonledger.demo.story import run_demo
    from carbonledger.services.home import Home

    home = Home(tmp_path_factory.mktemp("e2e") / "home")
    run_demo(home, PASSPHRASE)
    # The token and DAO services are plain imports of the web UI now; the token story
    # still says why it could not run, if it could not.
    features = {"tokens": _token_story(home), "dao": ""}
    ctx = AppContext.open(home, PASSPHRASE)
    port = _free_port()
    config = uvicorn.Config(
        create_app(ctx), host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-e2e", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    try:
        yield Served(f"http://127.0.0.1:{port}", home, features)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        ctx.ledger.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def shots() -> Path:
    target = Path(
        os.environ.get("CARBONLEDGER_SCREENSHOTS") or Path(__file__).parent / "screenshots"
    )
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture
def page(browser: Any, served: Served) -> Iterator[Any]:
    context = browser.new_context(base_url=served.url, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    try:
        yield tab
    finally:
        context.close()
