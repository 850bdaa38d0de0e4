"""The machine Berth runs on belongs to the installation's operator; tenants' engines are told apart by engine ID.

* Using this machine's engine (any ``unix://`` endpoint, or its engine ID whatever the endpoint) or the ``local``
  provider (engines started on this machine) is the operator's grant to a tenant (:class:`HostGrant`). Whoever
  runs privileged containers there reads every tenant's data and keys. The first tenant receives the grant
  with its "local" cluster; ``manage.py host_access`` gives and takes it.
* An engine is recognised by its own ID (``docker info`` "ID"), not by the endpoint string that reaches it, so
  one engine is a node of one cluster only (a database constraint on live nodes).
* A registration that fails tells the tenant one thing, whatever listens at the endpoint (closed port, another
  service, a timeout, a TLS failure, an engine already in another tenant's cluster): the reason goes to the
  server log only, so the form cannot be used to probe.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clusters import docker_host as host
from clusters.models import HostGrant, Node
from console import audit, live

log = logging.getLogger(__name__)

REFUSED = gettext_lazy(
    "The engine was refused: it did not answer as a Docker engine this cluster may use, with the TLS material "
    "given. Nothing was registered; the server log has the details."
)
NOT_GRANTED = gettext_lazy(
    "This is an engine of the machine Berth runs on (a unix:// socket or the local provider): only the "
    "operator can let a tenant use it."
)
HOST_ENGINE_TTL = 60.0

_host_lock = threading.Lock()
_host_cache: tuple[float, str] = (0.0, "")


class EngineRefused(Exception):
    """The engine may not become (or stay) a node; ``str()`` is the detail for the server log, never for tenants."""


def has_grant(tenant_id: int) -> bool:
    """Whether the operator lets tenant ``tenant_id`` use this machine's engine and the local provider."""
    return HostGrant.objects.filter(tenant_id=tenant_id).exists()


def host_engine_id() -> str:
    """The engine ID of this machine's engine (behind BERTH_LOCAL_DOCKER_URL); "" while it does not answer.

    A successful answer is kept for a minute.
    """
    global _host_cache
    with _host_lock:
        read_at, cached = _host_cache
        if cached and time.monotonic() - read_at < HOST_ENGINE_TTL:
            return cached
    try:
        found = host.ping(host.Endpoint(url=settings.BERTH_LOCAL_DOCKER_URL, timeout=5.0)).get("engine_id", "")
    except host.HostError as exc:
        log.warning("this machine's engine did not answer: %s", exc)
        return ""
    with _host_lock:
        _host_cache = (time.monotonic(), found)
    return found


def check_engine(tenant_id: int, engine_id: str, *, exclude_node: int | None = None) -> None:
    """Raise EngineRefused unless an engine with ``engine_id`` may be a node of tenant ``tenant_id``.

    Refused: no ID; this machine's engine without the operator's grant; an engine that already is a live node
    (of any cluster; the caller tells its own tenant which of its clusters).
    """
    if not engine_id:
        raise EngineRefused("the engine reported no ID")
    if engine_id == host_engine_id() and not has_grant(tenant_id):
        raise EngineRefused(f"engine {engine_id} is this machine's engine and tenant {tenant_id} has no host grant")
    taken = Node.objects.exclude(state=Node.State.REMOVED).filter(engine_id=engine_id)
    if exclude_node is not None:
        taken = taken.exclude(pk=exclude_node)
    if taken.exists():
        raise EngineRefused(f"engine {engine_id} is already node(s) {list(taken.values_list('pk', flat=True))}")


def own_node_with_engine(tenant_id: int, engine_id: str = "", endpoint: str = "") -> Node | None:
    """A live node of the tenant's own clusters with this engine ID or endpoint (to name it to the tenant)."""
    found = Node.objects.exclude(state=Node.State.REMOVED).filter(cluster__tenant_id=tenant_id)
    if engine_id:
        return found.filter(engine_id=engine_id).select_related("cluster").first()
    if endpoint:
        return found.filter(endpoint=endpoint).select_related("cluster").first()
    return None


def on_this_machine(node: Node) -> bool:
    """Whether the node is this machine's engine: a ``unix://`` socket, the built-in node, or the host's engine ID."""
    if node.endpoint.startswith("unix://") or node.provider == Node.Provider.BUILTIN:
        return True
    return bool(node.engine_id) and node.engine_id == host_engine_id()


def check_node(node: Node, info: dict[str, Any]) -> None:
    """Raise EngineRefused when a node that answered may not be used: another engine than the registered one
    answers, an engine of this machine without the tenant's grant, or (for a node registered before engine IDs
    were kept) an engine that is already another node. Adopts the ID of such an older node otherwise."""
    tenant_id = node.cluster.tenant_id
    found = info.get("engine_id", "")
    if node.engine_id and found != node.engine_id:
        raise EngineRefused(f"engine {found!r} answers where node {node.pk} had engine {node.engine_id!r}")
    if (on_this_machine(node) or (found and found == host_engine_id())) and not has_grant(tenant_id):
        raise EngineRefused(f"node {node.pk} is an engine of this machine and tenant {tenant_id} has no host grant")
    if not node.engine_id and found:
        check_engine(tenant_id, found, exclude_node=node.pk)
        Node.objects.filter(pk=node.pk, engine_id="").update(engine_id=found)
        node.engine_id = found


# --- the operator's grant --------------------------------------------------------------------------


def grant(tenant: Any, *, note: str = "") -> HostGrant:
    """Let ``tenant`` use this machine's engine and the local provider (the operator's decision; idempotent)."""
    made, created = HostGrant.objects.get_or_create(tenant=tenant, defaults={"note": note[:200]})
    if created:
        audit.record(
            "cs:GrantHostAccess",
            tenant=tenant,
            resource=f"acs:cs:*:{tenant.pk}:host",
            target=tenant.alias,
            parameters={"note": note[:200]},
            source="system",
        )
    return made


def revoke(tenant: Any) -> int:
    """Take the grant back; the tenant's nodes on this machine become unreachable at once. Returns how many."""
    with transaction.atomic():
        deleted, _rows = HostGrant.objects.filter(tenant=tenant).delete()
        if not deleted:
            return 0
        nodes = [
            n
            for n in Node.objects.filter(cluster__tenant=tenant).exclude(state=Node.State.REMOVED)
            if on_this_machine(n)
        ]
        reason = _("the operator no longer lets this tenant use the machine Berth runs on")
        for node in nodes:
            Node.objects.filter(pk=node.pk).update(state=Node.State.UNREACHABLE, last_error=reason)
            node.state, node.last_error = Node.State.UNREACHABLE, reason
            transaction.on_commit(lambda n=node: live.publish("cluster", n.cluster_id, n.as_live()))
        audit.record(
            "cs:RevokeHostAccess",
            tenant=tenant,
            resource=f"acs:cs:*:{tenant.pk}:host",
            target=tenant.alias,
            parameters={"nodes": [n.name for n in nodes]},
            source="system",
        )
    return len(nodes)
