"""Complexity triage routes: a classifier picks the tier (README, Complexity routing)."""
