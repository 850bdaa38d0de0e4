"""Bringing a cluster's routers to what the database says: one router per ready node while the routing service is
on, each configured with every route and the running containers behind it; none while it is off.

``schedule`` asks for a sync (coalesced: many changes in a moment give one sync), ``sync`` carries it out under a
per-cluster lock. Changes that only add, remove or reweigh containers reach a running router through its Runtime
API; others reload it seamlessly (``routing.routers``). Before a release removes containers, ``let_go`` takes them
out of every router of the cluster, so that no request is sent to a container that is going away.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from django.conf import settings
from django.db import transaction

from apps import converge
from apps.models import Application, Container
from clusters import docker_host as host
from clusters import inside
from clusters.models import Cluster, Node
from console import celery, live
from routing import haproxy, routers
from routing.models import Route, Router, RoutingSettings

log = logging.getLogger(__name__)

SYNC_TASK = "routing.sync_cluster"
GONE = ("deleting", "deleted")
"""Application statuses whose routes the routers no longer serve."""
LOCK_SECONDS = 120
_PROBE_PATH = re.compile(r"^https?://container(?::\d+)?(/[^\s]*)?$")


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=10, socket_connect_timeout=5)


def _key(cluster_id: int, what: str) -> str:
    return f"berth:{settings.BERTH_INSTANCE}:routing:{what}:{cluster_id}"


def schedule(cluster_id: int) -> None:
    """Ask for a sync of the cluster's routers once the current transaction commits (coalesced)."""

    def send() -> None:
        try:
            if _redis().set(_key(cluster_id, "asked"), "1", nx=True, ex=30):
                celery.app.send_task(SYNC_TASK, args=[cluster_id], countdown=0.3)
        except redis.RedisError as exc:  # the periodic sync catches up
            log.warning("routing: could not ask for a sync of cluster %s: %s", cluster_id, exc)

    transaction.on_commit(send)


@contextmanager
def _locked(cluster_id: int) -> Iterator[None]:
    lock = _redis().lock(_key(cluster_id, "lock"), timeout=LOCK_SECONDS, blocking_timeout=LOCK_SECONDS)
    if not lock.acquire():
        raise routers.RouterFailed("another sync of the cluster's routers takes too long")
    try:
        yield
    finally:
        try:
            lock.release()
        except redis.RedisError:
            pass


def settings_of(cluster: Cluster) -> RoutingSettings:
    """The cluster's routing settings, to read (the defaults, not saved, when it has none yet: a page writes
    nothing)."""
    return RoutingSettings.objects.filter(cluster=cluster).first() or RoutingSettings(cluster=cluster)


def settings_to_change(cluster: Cluster) -> RoutingSettings:
    """The cluster's routing settings, made with the defaults and a sticky-cookie key the first time."""
    found, _made = RoutingSettings.objects.get_or_create(
        cluster=cluster, defaults={"cookie_key": secrets.token_hex(16)}
    )
    return found


def enabled(cluster: Cluster) -> bool:
    """Whether the cluster's routing service is on (it needs the cluster network: routers reach every node)."""
    return bool((cluster.system_services or {}).get("routing")) and cluster.network_mode == Cluster.NetworkMode.OVERLAY


def check_path(service_spec: dict[str, Any]) -> str | None:
    """The path the router checks a service's containers with: its ``aliyun.probe.url``'s, else None (TCP)."""
    url = ((service_spec or {}).get("labels") or {}).get("aliyun.probe.url", "")
    match = _PROBE_PATH.match(url)
    return (match.group(1) or "/") if match else None


def _addresses(nodes: Iterable[Node], cluster_id: int) -> dict[str, dict[str, str]]:
    """Every running Berth container of the cluster: name → {network: address} (one listing per node)."""
    found: dict[str, dict[str, str]] = {}
    for node in nodes:
        try:
            found.update(inside.addresses(host.Endpoint.of(node), {**host.managed(), "berth.cluster": str(cluster_id)}))
        except host.HostError as exc:
            log.warning("routing: could not list the containers of %s: %s", node.name, exc)
    return found


def desired(cluster: Cluster, nodes: list[Node]) -> tuple[haproxy.Router, set[str], dict[int, int]]:
    """The configuration every router of the cluster runs, the networks the routers join, and the ports they
    publish (node port → router port)."""
    options = settings_to_change(cluster)
    routes = list(
        Route.objects.filter(cluster=cluster, application__deleted_at__isnull=True)
        .exclude(application__status__in=GONE)
        .select_related("service", "application")
    )
    containers: dict[int, list[Container]] = {}
    for row in Container.objects.filter(service_id__in={r.service_id for r in routes}, state="running").exclude(
        docker_id=""
    ):
        containers.setdefault(row.service_id, []).append(row)
    addresses = _addresses(nodes, cluster.pk) if routes else {}
    networks: set[str] = set()
    grouped: dict[tuple[str, str], list[Route]] = {}
    for route in routes:
        grouped.setdefault((route.domain, route.path), []).append(route)
    backends, entries = [], []
    for (domain, path), claimants in sorted(grouped.items()):
        name = haproxy.backend_name(domain, path)
        servers = []
        for route in claimants:
            network = converge.network_names(route.application, route.service)[0]
            networks.add(network)
            for row in containers.get(route.service_id, []):
                address = addresses.get(row.name, {}).get(network)
                if address:
                    servers.append(haproxy.Server(row.name, address, route.port, route.weight))
        paths = {check_path(r.service.spec) for r in claimants}
        title = ", ".join(f"{r.application.name}/{r.service.name}:{r.port}" for r in claimants)
        backends.append(
            haproxy.Backend(
                name,
                tuple(servers),
                sticky=any(r.sticky for r in claimants),
                check_path=paths.pop() if len(paths) == 1 else None,
                title=f"{domain}{path} ← {title}",
            )
        )
        entries.append(haproxy.Route(domain, path, name, any(r.https for r in claimants)))
    config = haproxy.Router(
        bind="0.0.0.0",  # noqa: S104 - inside the router's own namespace; the node publishes it on one address
        port=routers.CONTAINER_PORT,
        http_port=80 if options.http_port else None,
        https_port=None,
        routes=tuple(entries),
        backends=tuple(backends),
        cookie_key=options.cookie_key or "berth",
    )
    return config, networks, routers.ports_of(options.port, options.http_port, False)


def sync(cluster_id: int) -> dict[str, Any]:
    """Bring the cluster's routers to the database's state; what was done per node."""
    try:
        _redis().delete(_key(cluster_id, "asked"))
    except redis.RedisError:
        pass
    cluster = Cluster.objects.filter(pk=cluster_id).first()
    if cluster is None:
        return {}
    done: dict[str, Any] = {}
    with _locked(cluster_id):
        nodes = list(Node.objects.filter(cluster=cluster).live())
        serving = [n for n in nodes if n.state == Node.State.READY] if enabled(cluster) else []
        for node in nodes:
            if node in serving or node.state not in (Node.State.READY, Node.State.DRAINING):
                continue
            try:
                if routers.remove(host.Endpoint.of(node), cluster_id):
                    done[node.name] = "removed"
            except host.HostError as exc:
                done[node.name] = f"not removed: {exc}"
        Router.objects.filter(cluster=cluster).exclude(node__in=serving).delete()
        if not serving:
            _published(cluster)
            return done
        config, networks, ports = desired(cluster, serving)
        text = haproxy.build(config)
        for node in serving:
            done[node.name] = _sync_node(cluster, node, text, networks, ports)
    _published(cluster)
    return done


def _sync_node(cluster: Cluster, node: Node, text: str, networks: set[str], ports: dict[int, int]) -> str:
    row, _made = Router.objects.get_or_create(cluster=cluster, node=node)
    try:
        endpoint = host.Endpoint.of(node)
        container_id, fresh = routers.ensure(endpoint, cluster.pk, node.publish_ip or "0.0.0.0", ports, text, networks)
        if not fresh:
            routers.join_networks(endpoint, container_id, networks | {"bridge"})
        applied = routers.apply(endpoint, container_id, text, fresh=fresh)
    except host.HostError as exc:
        Router.objects.filter(pk=row.pk).update(state=Router.State.FAILED, error=str(exc)[:500])
        log.warning("routing: the router of %s failed: %s", node.name, exc)
        return f"failed: {exc}"
    Router.objects.filter(pk=row.pk).update(
        state=Router.State.RUNNING, error="", reloads=row.reloads + (1 if applied.reloaded else 0)
    )
    return "made" if applied.created else "reloaded" if applied.reloaded else f"{applied.commands} commands"


def _published(cluster: Cluster) -> None:
    live.cluster_changed(cluster.pk)


def containers_changed(app_id: int) -> None:
    """Containers of an application changed (``apps.models.CONTAINER_LISTENERS``): a sync of its cluster's routers
    when it has routes."""
    cluster_id = Route.objects.filter(application_id=app_id).values_list("cluster_id", flat=True).first()
    if cluster_id is not None:
        schedule(cluster_id)


def let_go(containers: list[Container]) -> None:
    """Take these containers out of every router of their cluster before they are removed (maintenance: no new
    request goes to them; the router retries a request that was on its way on another container)."""
    by_service: dict[int, list[str]] = {}
    for row in containers:
        by_service.setdefault(row.service_id, []).append(row.name)
    routes = list(Route.objects.filter(service_id__in=by_service).select_related("cluster"))
    if not routes:
        return
    cluster = routes[0].cluster
    if not enabled(cluster):
        return
    commands = [
        f"set server {haproxy.backend_name(r.domain, r.path)}/{name} state maint"
        for r in routes
        for name in by_service.get(r.service_id, [])
    ]
    for router in Router.objects.filter(cluster=cluster, state=Router.State.RUNNING).select_related("node"):
        try:
            routers.runtime(host.Endpoint.of(router.node), routers.name_of(cluster.pk), commands)
        except host.HostError as exc:
            log.warning("routing: %s could not let go of %s: %s", router.node.name, containers, exc)


def forget(app: Application) -> None:
    """An application is being deleted (``apps.releases.BEFORE_DELETE``): every router of its cluster stops sending it
    requests and leaves its networks at once (they are removed next); its routes go, and a sync drops them."""
    routes = list(Route.objects.filter(application=app).select_related("service"))
    if not routes:
        return
    commands = [
        f"set server {haproxy.backend_name(r.domain, r.path)}/{row.name} state maint"
        for r in routes
        for row in Container.objects.filter(service_id=r.service_id)
    ]
    shared = {name for r in routes for name in converge.shared_networks(r.service)}
    networks = {converge.network_names(app, r.service)[0] for r in routes} - shared
    with _locked(app.cluster_id):
        for router in Router.objects.filter(cluster_id=app.cluster_id).select_related("node"):
            try:
                endpoint = host.Endpoint.of(router.node)
                routers.runtime(endpoint, routers.name_of(app.cluster_id), commands)
                for network in sorted(networks):
                    inside.disconnect(endpoint, routers.name_of(app.cluster_id), network)
            except host.HostError as exc:
                log.warning("routing: the router of %s could not let go of %s: %s", router.node.name, app.name, exc)
    Route.objects.filter(application=app).delete()  # its domains are free again (an update would write them anew)
    schedule(app.cluster_id)
