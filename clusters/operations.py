"""Use cases of clusters and nodes."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Tenant
from clusters import docker_host as host
from clusters.models import Cluster, Node
from console import audit

LOCAL_CLUSTER = "local"


def ensure_local_cluster(tenant: Tenant, actor: Any = None) -> Cluster:
    """Give ``tenant`` the cluster "local" whose one node is this machine's own engine (idempotent)."""
    endpoint = host.Endpoint(url=settings.BERTH_LOCAL_DOCKER_URL, timeout=settings.BERTH_DOCKER_TIMEOUT)
    try:
        info = host.ping(endpoint)
        state, seen = Node.State.READY, timezone.now()
    except host.HostError:
        info, state, seen = {}, Node.State.UNREACHABLE, None
    with transaction.atomic():
        cluster, created = Cluster.objects.get_or_create(tenant=tenant, name=LOCAL_CLUSTER)
        node, node_created = Node.objects.get_or_create(
            cluster=cluster,
            name=info.get("hostname") or "local",
            defaults={"endpoint": endpoint.url, "publish_ip": settings.BERTH_LOCAL_PUBLISH_IP},
        )
        node.endpoint = endpoint.url
        node.state = state
        if info:
            node.info, node.last_seen_at = info, seen
        node.save()
    if created or node_created:
        audit.record(
            "cs:CreateCluster",
            actor=actor,
            tenant=tenant,
            resource=cluster.resource_name,
            target=cluster.name,
            cluster_id=cluster.pk,
            parameters={"node": node.name, "endpoint": node.endpoint},
            source="system" if actor is None else None,
        )
    return cluster


def register_node(actor: Any, cluster: Cluster, *, name: str, endpoint: str, publish_ip: str, zone: str = "") -> Node:
    """Add an engine to a cluster after checking that it answers (plain ``unix://``/``tcp://``; TLS comes later)."""
    from accounts.permissions import authorize

    authorize(actor, "cs:AddClusterNodes", cluster)
    target = host.Endpoint(url=endpoint, timeout=min(settings.BERTH_DOCKER_TIMEOUT, 10.0))
    try:
        info = host.ping(target)
    except host.HostError as exc:
        audit.record(
            "cs:AddClusterNodes",
            actor=actor,
            resource=cluster.resource_name,
            target=name,
            cluster_id=cluster.pk,
            parameters={"endpoint": endpoint},
            outcome=audit.OperationLog.Outcome.FAILURE,
            error=str(exc),
        )
        raise host.HostError(
            _("The engine at %(url)s did not answer: %(reason)s") % {"url": endpoint, "reason": exc}
        ) from exc
    node = Node.objects.create(
        cluster=cluster,
        name=name,
        endpoint=endpoint,
        publish_ip=publish_ip,
        zone=zone,
        info=info,
        state=Node.State.READY,
        last_seen_at=timezone.now(),
    )
    audit.record(
        "cs:AddClusterNodes",
        actor=actor,
        resource=cluster.resource_name,
        target=name,
        cluster_id=cluster.pk,
        parameters={"endpoint": endpoint, "publish_ip": publish_ip},
    )
    return node
