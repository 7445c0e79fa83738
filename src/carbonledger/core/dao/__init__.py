"""The DAO, all of it: quadratic vote arithmetic, parameters, proposal states, balances, rules.

Nothing here does I/O. The ledger rules of every ``dao_*`` transaction are in
:mod:`carbonledger.core.dao.rules` (applied by :mod:`carbonledger.core.authority`);
the services and the CLI use the other modules to show what the rules decide.
"""
