"""Usage and cost accounting."""
