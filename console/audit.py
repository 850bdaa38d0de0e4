"""Writing the operation log. Operations call :func:`record` explicitly; nothing is inferred from signals."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from console import context
from console.models import OperationLog

log = logging.getLogger(__name__)

GENESIS = "0" * 64
SECRET_KEY_PATTERN = re.compile(r"(password|secret|token|key|credential|private|passphrase)", re.IGNORECASE)
REDACTED = "[redacted]"


def redact(value: Any) -> Any:
    """Replace the values of secret-looking keys, at any depth, with ``[redacted]``."""
    if isinstance(value, dict):
        return {k: (REDACTED if SECRET_KEY_PATTERN.search(str(k)) else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def record(
    action: str,
    *,
    actor: Any = None,
    tenant: Any = None,
    resource: str = "",
    target: str = "",
    cluster_id: int | None = None,
    parameters: dict[str, Any] | None = None,
    outcome: str = OperationLog.Outcome.SUCCESS,
    error: str = "",
    duration_ms: int | None = None,
    source: str | None = None,
) -> OperationLog:
    """Append one entry to the tenant's chain. Request context (id, IP, agent, source) comes from ContextVars."""
    if tenant is None and actor is not None:
        tenant = actor.tenant
    for attempt in range(5):
        try:
            with transaction.atomic():
                last = (
                    OperationLog.objects.select_for_update()
                    .filter(tenant=tenant)
                    .order_by("-seq")
                    .values("seq", "hash")
                    .first()
                )
                entry = OperationLog(
                    tenant=tenant,
                    seq=(last["seq"] + 1) if last else 1,
                    created_at=timezone.now(),
                    actor=actor if actor is not None and actor.pk else None,
                    actor_name=actor.login if actor is not None else "system",
                    actor_kind=actor.kind if actor is not None else "system",
                    source=source or context.source.get(),
                    source_ip=context.source_ip.get(),
                    user_agent=context.user_agent.get(),
                    request_id=context.request_id.get(),
                    action=action,
                    resource=resource,
                    target=target[:200],
                    cluster_id=cluster_id,
                    parameters=redact(parameters or {}),
                    outcome=outcome,
                    error=error[:4000],
                    duration_ms=duration_ms,
                    prev_hash=last["hash"] if last else GENESIS,
                )
                entry.hash = entry.compute_hash()
                entry.save()
                return entry
        except IntegrityError:
            # Another writer took this position in the chain: read the new head and try again.
            time.sleep(0.01 * (attempt + 1))
    raise RuntimeError("could not append to the operation log")


def verify_chain(tenant: Any = None) -> OperationLog | None:
    """Return the first entry whose link is broken (edited, reordered or removed), or None when intact."""
    prev = GENESIS
    expected_seq = 1
    for entry in OperationLog.objects.filter(tenant=tenant).order_by("seq").iterator():
        if entry.seq != expected_seq or entry.prev_hash != prev or entry.compute_hash() != entry.hash:
            return entry
        prev = entry.hash
        expected_seq += 1
    return None
