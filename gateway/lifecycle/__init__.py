"""A running gateway's life: graceful shutdown, open streams, following the config file."""
