#!/usr/bin/env bash
# Services the test suite can use, started when they are installed here (sourced by `make test`).
#   . scripts/test-services.sh
# Never installs anything that needs root and never fails: what is missing is skipped by the
# tests and named in the summary at the end of the run, with the command that installs it
# (`bash scripts/ci-services.sh`, which CI runs).
cd "$(dirname "${BASH_SOURCE[0]}")/.." || return 0

_cl_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi; }

# PostgreSQL: a Debian cluster installed but stopped is started, and the test role made.
if [ -z "${CARBONLEDGER_TEST_POSTGRES:-}" ] && command -v pg_lsclusters >/dev/null 2>&1; then
  if ! pg_isready -q -h 127.0.0.1 2>/dev/null; then
    read -r _cl_ver _cl_name _ < <(pg_lsclusters -h 2>/dev/null | head -n 1)
    if [ -n "${_cl_ver:-}" ] && _cl_root pg_ctlcluster "$_cl_ver" "$_cl_name" start 2>/dev/null; then
      echo "make test: started PostgreSQL $_cl_ver ($_cl_name)"
    fi
  fi
  if pg_isready -q -h 127.0.0.1 2>/dev/null; then
    _cl_root su postgres -c "psql -qtc \"SELECT 1 FROM pg_roles WHERE rolname='carbonledger'\" \
      | grep -q 1 || psql -qc \"CREATE ROLE carbonledger LOGIN SUPERUSER PASSWORD 'carbonledger'\"" \
      >/dev/null 2>&1 || true
    export CARBONLEDGER_TEST_POSTGRES="postgresql+psycopg://carbonledger:carbonledger@127.0.0.1:5432/postgres"
  fi
fi

# anvil, Hardhat and solc: the npm packages pinned in contracts/ (no root needed) when npm is
# here.
if { [ ! -x contracts/node_modules/.bin/anvil ] || [ ! -x contracts/node_modules/.bin/hardhat ]; } \
  && command -v npm >/dev/null 2>&1; then
  echo "make test: installing anvil, Hardhat and solc (npm ci in contracts/)"
  (cd contracts && npm ci --no-audit --no-fund --silent) || true
fi
unset -f _cl_root
return 0 2>/dev/null || true
