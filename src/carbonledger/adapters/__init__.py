"""Adapters: concrete backends behind the ports."""
