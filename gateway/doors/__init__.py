"""Front doors: one folder per wire format the gateway speaks to its clients."""
