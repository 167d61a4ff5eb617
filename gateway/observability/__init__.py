"""Request records, logs and metrics."""
