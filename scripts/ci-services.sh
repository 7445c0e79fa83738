#!/usr/bin/env bash
# Everything the tests that `make test` skips on a fresh machine need, installed and started
# (CI sources it; locally `sudo bash scripts/ci-services.sh` once, then `make test`):
# Chromium for the browser tests, anvil, Hardhat 2.x and solc (npm), PostgreSQL 15.
#   source scripts/ci-services.sh   # also exports CARBONLEDGER_REQUIRE_EVM=1 and the database URL
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Browser tests drive Debian's Chromium through the playwright package
# (Playwright's own browser download is not used).
if ! command -v chromium >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq chromium >/dev/null
fi

# anvil, Hardhat (its node, a second chain for the EVM tests) and solc from npm
# (pinned by contracts/package-lock.json).
if ! command -v npm >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq nodejs npm >/dev/null
fi
(cd contracts && npm ci --no-audit --no-fund --silent)

# PostgreSQL 15 from Debian, started for the off-chain store tests.
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq postgresql >/dev/null
fi
as_root pg_ctlcluster 15 main start 2>/dev/null || true
as_root su postgres -c "psql -qtc \"SELECT 1 FROM pg_roles WHERE rolname='carbonledger'\" | grep -q 1 \
  || psql -qc \"CREATE ROLE carbonledger LOGIN SUPERUSER PASSWORD 'carbonledger'\""

# In CI nothing these tests need may be missing: they fail instead of skipping.
export CARBONLEDGER_REQUIRE_EVM=1
export CARBONLEDGER_TEST_POSTGRES="postgresql+psycopg://carbonledger:carbonledger@127.0.0.1:5432/postgres"
