"""Shared state: the ``StateStore`` interface with memory and redis implementations."""
