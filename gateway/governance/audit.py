"""The audit log: one line per admin action (who, what, when), never a secret."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

audit_log = structlog.get_logger("gateway.audit")


def audit(actor: str, action: str, target: str) -> None:
    """``actor`` is the admin key's id (``key_…``), or ``open`` on a gateway without keys."""
    audit_log.info(
        "admin action",
        audit=True,
        actor=actor,
        action=action,
        target=target,
        at=datetime.now(UTC).isoformat(),
    )
