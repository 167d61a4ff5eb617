"""Governance: who may call what, how fast and for how much.

Keys and teams (config and runtime), the admission stage (allowed routes and
profiles, rpm/tpm/max_parallel, budgets), provider quotas, and the background sync
that shares them across replicas through the state store.
"""
