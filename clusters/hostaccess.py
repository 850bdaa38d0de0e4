"""The machine Berth runs on belongs to the installation's operator; tenants' engines are told apart by engine ID.

* Using this machine's engine (any ``unix://`` endpoint, or its engine ID whatever the endpoint) or a provider whose
  engines run here (``local``: a dockerd in a network namespace shares this machine's mounts and processes) is the
  operator's grant to a tenant (:class:`HostGrant`). Whoever runs privileged containers there reads every tenant's
  data and keys. The first tenant receives the grant with its "local" cluster; ``manage.py host_access`` gives and
  takes it. ``clusters.docker_host.Endpoint.of`` enforces it on every connection.
* Taking the grant back cuts the tenant off at once: its nodes on this machine become unreachable to every path
  (the door refuses them), its containers on this machine's engine are stopped, and the engines the local
  provider started for it are stopped (their data stays; giving the grant back starts them again).
* An engine is recognised by its own ID (``docker info`` "ID"), not by the endpoint string that reaches it, so
  one engine is a node of one cluster only (a database constraint on live nodes). A node registered before IDs
  were kept is not reached until the health check identifies it: it adopts the ID, or, when the engine already is
  another node or is this machine without the grant, the node is retired (removed, with a log entry).
* A registration that fails tells the tenant one thing, whatever listens at the endpoint (closed port, another
  service, a timeout, a TLS failure, an engine already in another tenant's cluster): the reason goes to the
  server log only, so the form cannot be used to probe.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy

from clusters import docker_host as host
from clusters.models import HostGrant, Node
from clusters.providers import PROVIDERS
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
NO_LONGER_GRANTED = gettext_lazy("the operator no longer lets this tenant use the machine Berth runs on")


class EngineRefused(Exception):
    """The engine may not become (or stay) a node; ``str()`` is the detail for the server log, never for tenants."""


def has_grant(tenant_id: int) -> bool:
    """Whether the operator lets tenant ``tenant_id`` use this machine's engine and the local provider."""
    return HostGrant.objects.filter(tenant_id=tenant_id).exists()


def check_engine(tenant_id: int, engine_id: str, *, exclude_node: int | None = None) -> None:
    """Raise EngineRefused unless an engine with ``engine_id`` may be a node of tenant ``tenant_id``.

    Refused: no ID; this machine's engine without the operator's grant; an engine that already is a live node
    (of any cluster; the caller tells its own tenant which of its clusters).
    """
    if not engine_id:
        raise EngineRefused("the engine reported no ID")
    if engine_id == host.local_engine_id() and not has_grant(tenant_id):
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
    """Whether the node is an engine of this machine: a ``unix://`` socket, a provider whose engines run here
    (the built-in node, the ``local`` provider), or this machine's engine ID whatever the endpoint."""
    return host.on_this_machine(node.endpoint, node.provider, node.engine_id)


def check_node(node: Node, info: dict[str, Any]) -> None:
    """Raise EngineRefused when a node that answered may not be used: another engine than the registered one
    answers, an engine of this machine without the tenant's grant, or (for a node registered before engine IDs
    were kept) an engine that is already another node. Adopts the ID of such an older node otherwise."""
    tenant_id = node.cluster.tenant_id
    found = info.get("engine_id", "")
    if node.engine_id and found != node.engine_id:
        raise EngineRefused(f"engine {found!r} answers where node {node.pk} had engine {node.engine_id!r}")
    if (on_this_machine(node) or (found and found == host.local_engine_id())) and not has_grant(tenant_id):
        raise EngineRefused(f"node {node.pk} is an engine of this machine and tenant {tenant_id} has no host grant")
    if not node.engine_id and found:
        check_engine(tenant_id, found, exclude_node=node.pk)
        Node.objects.filter(pk=node.pk, engine_id="").update(engine_id=found)
        node.engine_id = found


def retire(node: Node, reason: str) -> bool:
    """Take a node that was never identified out of its cluster for good (its engine is another node's, or this
    machine's without the grant): state removed, an operation-log entry (source system). Nothing of its engine is
    touched: it is not the tenant's. Returns whether this call retired it."""
    with transaction.atomic():
        moved = (
            Node.objects.filter(pk=node.pk, engine_id="")
            .exclude(state=Node.State.REMOVED)
            .update(state=Node.State.REMOVED, last_error=reason[:500])
        )
        if not moved:
            return False
        node.state, node.last_error = Node.State.REMOVED, reason[:500]
        audit.record(
            "cs:RetireClusterNode",
            tenant=node.cluster.tenant,
            resource=node.resource_name,
            target=node.name,
            cluster_id=node.cluster_id,
            parameters={"endpoint": node.endpoint},
            outcome=audit.OperationLog.Outcome.FAILURE,
            error=reason,
            source="system",
        )
        transaction.on_commit(lambda: live.publish("cluster", node.cluster_id, node.as_live()))
    return True


# --- the operator's grant --------------------------------------------------------------------------


def grant(tenant: Any, *, note: str = "", automatic: bool = False) -> HostGrant:
    """Let ``tenant`` use this machine's engine and the local provider (the operator's decision; idempotent).

    ``automatic`` is setup's grant to the first tenant: at most one tenant holds it (a database constraint), so
    two setups racing cannot both give it: the second raises IntegrityError (its caller's transaction rolls back).
    """
    existing = HostGrant.objects.filter(tenant=tenant).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        made = HostGrant.objects.create(tenant=tenant, note=note[:200], automatic=automatic)
        audit.record(
            "cs:GrantHostAccess",
            tenant=tenant,
            resource=f"acs:cs:*:{tenant.pk}:host",
            target=tenant.alias,
            parameters={"note": note[:200], "automatic": automatic},
            source="system",
        )
    return made


def revoke(tenant: Any) -> int:
    """Take the grant back and cut the tenant off this machine; returns how many of its nodes were on it.

    At once (one transaction): the grant goes and its nodes on this machine become unreachable; from then on the
    node door refuses them to every path. Then (Docker is never called inside a transaction) the tenant's
    containers on this machine's engines are stopped (:func:`cut_off`). The log entry says what was stopped.
    """
    with transaction.atomic():
        deleted, _rows = HostGrant.objects.filter(tenant=tenant).delete()
        if not deleted:
            return 0
        nodes = [
            n
            for n in Node.objects.filter(cluster__tenant=tenant)
            .exclude(state=Node.State.REMOVED)
            .select_related("cluster")
            if on_this_machine(n)
        ]
        reason = str(NO_LONGER_GRANTED)
        for node in nodes:
            Node.objects.filter(pk=node.pk).update(state=Node.State.UNREACHABLE, last_error=reason)
            node.state, node.last_error = Node.State.UNREACHABLE, reason
            transaction.on_commit(lambda n=node: live.publish("cluster", n.cluster_id, n.as_live()))
    stopped = cut_off(tenant, nodes)
    audit.record(
        "cs:RevokeHostAccess",
        tenant=tenant,
        resource=f"acs:cs:*:{tenant.pk}:host",
        target=tenant.alias,
        parameters={"nodes": [n.name for n in nodes], **stopped},
        outcome=audit.OperationLog.Outcome.FAILURE if stopped["errors"] else audit.OperationLog.Outcome.SUCCESS,
        error="; ".join(stopped["errors"]),
        source="system",
    )
    return len(nodes)


def cut_off(tenant: Any, nodes: list[Node]) -> dict[str, Any]:
    """Stop what the tenant runs on this machine, as the operator (not through the tenant's node door, which
    refuses it now): its containers on this machine's engine and on other ``unix://`` sockets it registered
    (stopped, not removed: restart policy ``unless-stopped`` keeps them stopped), and the engines the local
    provider started for it (dockerd stopped; namespace and data stay)."""
    labels = {**host.managed(), "berth.tenant": str(tenant.pk)}
    sockets = {settings.BERTH_LOCAL_DOCKER_URL} | {n.endpoint for n in nodes if n.endpoint.startswith("unix://")}
    stopped: dict[str, Any] = {"containers_stopped": 0, "engines_stopped": [], "errors": []}
    for url in sorted(sockets):
        endpoint = host.Endpoint(url=url, timeout=settings.BERTH_DOCKER_TIMEOUT)
        try:
            for state in host.list_containers(endpoint, labels):
                if state.state in ("running", "restarting", "paused"):
                    host.stop_container(endpoint, state.id, settings.BERTH_STOP_TIMEOUT)
                    stopped["containers_stopped"] += 1
        except host.HostError as exc:
            log.warning("revoke: containers of tenant %s on %s: %s", tenant.pk, url, exc)
            stopped["errors"].append(f"{url}: {exc}")
    for node in nodes:
        provider = PROVIDERS.get(node.provider)
        if provider is None or not provider.on_this_machine or not node.provider_ref:
            continue
        try:
            provider.stop_host(node.provider_ref)
            stopped["engines_stopped"].append(node.name)
        except host.HostError as exc:
            stopped["errors"].append(f"{node.name}: {exc}")
    return stopped


def restore(tenant: Any) -> list[str]:
    """After the grant is given back: start again the engines the local provider made for the tenant (their
    containers come back by restart policy; the health check sees the nodes ready). Returns their names."""
    started = []
    nodes = Node.objects.filter(cluster__tenant=tenant).exclude(state=Node.State.REMOVED).select_related("cluster")
    for node in nodes:
        provider = PROVIDERS.get(node.provider)
        if provider is None or not provider.on_this_machine or not node.provider_ref:
            continue
        try:
            provider.start_host(node.provider_ref, node.tls_ca)
            started.append(node.name)
        except host.HostError as exc:
            log.warning("host access: node %s did not start again: %s", node.name, exc)
    return started
