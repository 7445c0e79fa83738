"""The DAO's pure core: quadratic vote arithmetic, parameters, proposal states, balances.

Nothing here does I/O; the ledger rules in :mod:`carbonledger.core.rules.governance`
use it, and so do the services and the CLI to show what the rules decide.
"""
