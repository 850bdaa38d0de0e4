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
SECRET_KEY_PATTERN = re.compile(r"(pass|pwd|secret|token|key|credential|private)", re.IGNORECASE)
NAMES_ONLY_KEYS = frozenset({"variables", "environment", "env"})
"""Parameters that hold variables: only their names are written (values are secrets until shown otherwise)."""
REDACTED = "[redacted]"
MASK = "****"
_URL_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s/:@]{0,256}:)[^\s@/]{1,256}@")
_ASSIGNMENT = re.compile(r"(?<![A-Za-z0-9_.-])([A-Za-z0-9_.-]++)=([\"']?)([^\s,;'\"]+)")


def _mask_assignment(match: re.Match[str]) -> str:
    """``NAME=****`` when NAME looks secret, else the text as it was."""
    name, quote, value = match.groups()
    if SECRET_KEY_PATTERN.search(name) and value != MASK:
        return f"{name}={quote}{MASK}"
    return match.group(0)


def mask_credentials(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` and the value of every
    ``SECRET_NAME=value`` (a name that looks secret) replaced by ``****``. Linear in the text's length."""
    if "@" in text:
        text = _URL_CREDENTIALS.sub(rf"\1{MASK}@", text)
    if "=" in text:
        text = _ASSIGNMENT.sub(_mask_assignment, text)
    return text


def _names(value: Any) -> Any:
    """The names of variables given as a mapping or ``KEY=VALUE`` strings (values dropped)."""
    if isinstance(value, dict):
        return sorted(str(k) for k in value)
    if isinstance(value, list | tuple):
        return [str(item).partition("=")[0] for item in value]
    return REDACTED if value not in (None, "") else value


def redact(value: Any) -> Any:
    """What of ``value`` may be written: the values of secret-looking keys become ``[redacted]``, variables and
    environments keep their names only, and credentials inside strings are masked, at any depth."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = str(key)
            if name.lower() in NAMES_ONLY_KEYS:
                out[key] = _names(item)
            elif SECRET_KEY_PATTERN.search(name):
                out[key] = REDACTED
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return mask_credentials(value)
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
                    error=mask_credentials(error)[:4000],
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
