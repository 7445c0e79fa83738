#!/usr/bin/env bash
# An ACA-Py (Hyperledger Aries) agent on loopback for the interoperability tests.
#   source scripts/ci-acapy.sh   # exports CARBONLEDGER_ACAPY_ADMIN_URL and CARBONLEDGER_REQUIRE_ACAPY=1
# ACA-Py runs in its own virtual environment on Python 3.12+ (pyenv's 3.13 when present):
# the project's Python never imports it; the tests talk to its admin API over HTTP.
# Also runs the credential tests on that Python 3.13 with the package installed there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ACAPY_VERSION="1.7.0"
CACHE="${CARBONLEDGER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/carbonledger}"
ACAPY_VENV="$CACHE/acapy-$ACAPY_VERSION"
# The first Python 3.13 (else 3.12) that runs: pyenv's installs, then PATH (a pyenv shim
# on PATH may name a version that is not selected, so each candidate is tried).
PY313=""
for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13 /root/.pyenv/versions/3.13*/bin/python3.13 \
  "$(command -v python3.13 || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 \
  /root/.pyenv/versions/3.12*/bin/python3.12 "$(command -v python3.12 || true)"; do
  if [ -n "$candidate" ] && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    PY313="$candidate"
    break
  fi
done
if [ -z "$PY313" ]; then
  echo "ACA-Py needs Python 3.12+ and none was found (pyenv versions or PATH)" >&2
  exit 1
fi

mkdir -p "$CACHE"
if [ ! -x "$ACAPY_VENV/bin/aca-py" ]; then
  "$PY313" -m venv "$ACAPY_VENV"
  "$ACAPY_VENV/bin/python" -m pip install --quiet "acapy-agent==$ACAPY_VERSION" >"$CACHE/acapy-pip.log" 2>&1 \
    || { cat "$CACHE/acapy-pip.log" >&2; exit 1; }
fi
"$ACAPY_VENV/bin/aca-py" --version >/dev/null

# The agent: askar wallet in a fresh temporary home, admin API on loopback only.
ACAPY_HOME="$(mktemp -d)"
ADMIN_PORT="${CARBONLEDGER_ACAPY_ADMIN_PORT:-8031}"
INBOUND_PORT="$((ADMIN_PORT - 1))"
HOME="$ACAPY_HOME" "$ACAPY_VENV/bin/aca-py" start \
  --no-ledger --wallet-type askar --wallet-name carbonledger-ci --wallet-key "ci-$RANDOM" \
  --auto-provision --admin 127.0.0.1 "$ADMIN_PORT" --admin-insecure-mode --wallet-allow-insecure-seed \
  --inbound-transport http 127.0.0.1 "$INBOUND_PORT" --outbound-transport http \
  --endpoint "http://127.0.0.1:$INBOUND_PORT" --label carbonledger-ci-utility \
  --log-level warning >"$ACAPY_HOME/agent.log" 2>&1 &
ACAPY_PID=$!
export CARBONLEDGER_ACAPY_ADMIN_URL="http://127.0.0.1:$ADMIN_PORT"
ready() {
  "$ACAPY_VENV/bin/python" -c 'import json, sys, urllib.request
sys.exit(0 if json.load(urllib.request.urlopen(sys.argv[1] + "/status/ready", timeout=5)).get("ready") else 1)' \
    "$CARBONLEDGER_ACAPY_ADMIN_URL" 2>/dev/null
}
for _ in $(seq 1 120); do
  if ready; then
    break
  fi
  if ! kill -0 "$ACAPY_PID" 2>/dev/null; then
    cat "$ACAPY_HOME/agent.log" >&2
    echo "ACA-Py agent exited before it was ready" >&2
    exit 1
  fi
  sleep 1
done
ready || { cat "$ACAPY_HOME/agent.log" >&2; echo "ACA-Py agent not ready" >&2; exit 1; }
trap 'kill "$ACAPY_PID" 2>/dev/null || true' EXIT
# The utility's issuing key: a did:key from a fixed seed (the same DID every run).
CARBONLEDGER_ACAPY_DID="$("$ACAPY_VENV/bin/python" -c 'import json, sys, urllib.request
body = {"method": "key", "seed": "carbonledger-ci-utility-seed-001", "options": {"key_type": "ed25519"}}
request = urllib.request.Request(sys.argv[1] + "/wallet/did/create", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(request, timeout=30))["result"]["did"])' "$CARBONLEDGER_ACAPY_ADMIN_URL")"
export CARBONLEDGER_ACAPY_DID
echo "ACA-Py $ACAPY_VERSION at $CARBONLEDGER_ACAPY_ADMIN_URL, issuing as $CARBONLEDGER_ACAPY_DID"
# In CI the interoperability tests fail, never skip, when the agent is missing.
export CARBONLEDGER_REQUIRE_ACAPY=1
export CARBONLEDGER_ACAPY_PID="$ACAPY_PID"

# The package and its credential tests on Python 3.13 (the project's CI Python is 3.11).
PY313_VENV="$CACHE/py313-venv"
if [ ! -x "$PY313_VENV/bin/pytest" ] || [ requirements.lock -nt "$PY313_VENV/.installed" ] || [ requirements-dev.lock -nt "$PY313_VENV/.installed" ]; then
  "$PY313" -m venv "$PY313_VENV"
  "$PY313_VENV/bin/python" -m pip install --quiet -r requirements-dev.lock >"$CACHE/py313-pip.log" 2>&1 \
    || { cat "$CACHE/py313-pip.log" >&2; exit 1; }
  touch "$PY313_VENV/.installed"
fi
# Python 3.13's sqlite3 warns when a connection is left to the garbage collector, as the
# in-process CLI tests leave the ledgers they open; that warning alone is not an error here.
echo "credential tests on $("$PY313_VENV/bin/python" --version):"
PYTHONPATH="$PWD/src:$PWD" "$PY313_VENV/bin/python" -m pytest -q -p no:cacheprovider \
  -W "ignore::pytest.PytestUnraisableExceptionWarning" \
  tests/credentials tests/meters/test_digital_auditor_acapy.py
