"""Services: use cases that combine the core with a ledger port."""
