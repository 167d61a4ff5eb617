"""The HTTP surface: chat completions, admin endpoints, the error shape and headers."""
