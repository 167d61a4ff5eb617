"""The audit log: one line per admin action (who, what, when), never a secret."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog


def audit(actor: str, action: str, target: str) -> None:
    """``actor`` is the admin key's id (``key_…``), or ``open`` on a gateway without keys."""
    # A fresh logger per line (admin actions are rare): a module-level one would be
    # cached on first use and keep the configuration of that moment.
    structlog.get_logger("gateway.audit").info(
        "admin action",
        audit=True,
        actor=actor,
        action=action,
        target=target,
        at=datetime.now(UTC).isoformat(),
    )
