"""The demo: one organisation's year told end to end on a fresh ledger (``carbonledger demo``).

``story`` runs it (sites, bills, audit, verification) and calls the other parts
in order: ``travel`` (trips and freight), ``tokens`` (RECs, offsets, audited
emissions), ``dao`` (a governance proposal to execution) and ``meters`` (signed
hourly readings and a digital audit). Nothing outside the demo and its tests
imports these modules.
"""
