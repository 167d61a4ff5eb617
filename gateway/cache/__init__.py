"""The response cache: exact-match answers kept in the state store (see README, Caching)."""
