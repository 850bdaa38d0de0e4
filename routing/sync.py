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
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps import converge
from apps.models import Application, Container
from clusters import docker_host as host
from clusters import inside
from clusters.models import Cluster, Node
from console import celery, live
from routing import haproxy, routers, tls, traffic
from routing.models import Listener, Route, Router, RoutingSettings

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


def _live(rows: Any) -> Any:
    """Rows of applications that are not being deleted."""
    return rows.filter(application__deleted_at__isnull=True).exclude(application__status__in=GONE)


def desired(cluster: Cluster, nodes: list[Node]) -> list[routers.Unit]:
    """The router containers every serving node of the cluster runs: the routes' router (every route, the running
    containers behind each) and one per listener."""
    options = settings_to_change(cluster)
    routes = list(_live(Route.objects.filter(cluster=cluster)).select_related("service", "application"))
    listeners = list(_live(Listener.objects.filter(cluster=cluster)).select_related("service", "application"))
    containers: dict[int, list[Container]] = {}
    wanted = {r.service_id for r in routes} | {li.service_id for li in listeners}
    for row in Container.objects.filter(service_id__in=wanted, state="running").exclude(docker_id=""):
        containers.setdefault(row.service_id, []).append(row)
    candidates = {row.name for rows in containers.values() for row in rows if row.candidate}
    addresses = _addresses(nodes, cluster.pk) if wanted else {}

    def servers_of(
        app: Application, service: Any, port: int, weight: int = 100, *, preview: bool = False
    ) -> tuple[str, list[haproxy.Server]]:
        """The running containers of a service on its first network, each at the route's weight times its own
        share (a blue-green or canary release's versions split it); ``preview``: the new version's alone."""
        network = converge.network_names(app, service)[0]
        found = []
        for row in containers.get(service.pk, []):
            address = addresses.get(row.name, {}).get(network)
            if address and (row.candidate or not preview):
                share = 100 if preview else weight * row.traffic_weight // 100
                if not share and weight and row.traffic_weight and not preview:
                    share = 1  # a small share of a small route weight is still a share (HAProxy's weights are whole)
                found.append(haproxy.Server(row.name, address, port, share))
        return network, found

    wants_tls = options.https_port or any(li.protocol == Listener.Protocol.HTTPS for li in listeners)
    served = tls.served_by(cluster) if wants_tls else []
    version, files = tls.files_for(served)
    serves_tls = bool(options.https_port and version)
    networks: set[str] = set()
    grouped: dict[tuple[str, str], list[Route]] = {}
    for route in routes:
        grouped.setdefault((route.domain, route.path), []).append(route)
    backends, entries = [], []
    for (domain, path), claimants in sorted(grouped.items()):
        servers: list[haproxy.Server] = []
        for route in claimants:
            network, found = servers_of(route.application, route.service, route.port, route.weight)
            networks.add(network)
            servers += found
        paths = {check_path(r.service.spec) for r in claimants}
        title = ", ".join(f"{r.application.name}/{r.service.name}:{r.port}" for r in claimants)
        name = haproxy.backend_name(domain, path)
        check = paths.pop() if len(paths) == 1 else None
        two_versions = any(s.name in candidates for s in servers)
        backends.append(
            haproxy.Backend(
                name,
                tuple(servers),
                sticky=any(r.sticky for r in claimants),
                check_path=check,
                title=f"{domain}{path} ← {title}",
                logged=two_versions,  # a canary's versions are compared by the requests the routers log
            )
        )
        if two_versions:  # the new version alone, on its preview domain
            preview = [s for r in claimants for s in servers_of(r.application, r.service, r.port, preview=True)[1]]
            preview_name = haproxy.backend_name(PREVIEW + domain, path)
            backends.append(haproxy.Backend(preview_name, tuple(preview), check_path=check, title=f"preview {title}"))
            entries.append(haproxy.Route(PREVIEW + domain, path, preview_name))
        https = any(r.https for r in claimants)
        # A redirect only where a certificate names the domain: never send a visitor to a name the routers cannot
        # prove.
        redirect = https and any(r.redirect_https for r in claimants) and tls.covers_any(served, domain)
        entries.append(haproxy.Route(domain, path, name, https, redirect))
    main = haproxy.Router(
        bind="0.0.0.0",  # noqa: S104 - inside the router's own namespace; the node publishes it on one address
        port=routers.CONTAINER_PORT,
        http_port=80 if options.http_port else None,
        https_port=443 if serves_tls else None,
        routes=tuple(entries),
        backends=tuple(backends),
        cookie_key=options.cookie_key or "berth",
        certificates=version if serves_tls else "",
    )
    # 443 is published while https is on, certificates or not: a first certificate, or the last one gone, is then a
    # reload, not a new router container (an engine cannot publish a port on a running one).
    units = [
        routers.Unit(
            routers.name_of(cluster.pk),
            routers.labels_of(cluster.pk),
            routers.ports_of(options.port, options.http_port, options.https_port),
            haproxy.build(main),
            frozenset(networks),
            files if serves_tls else {},
        )
    ]
    for listener in listeners:
        if listener.protocol == Listener.Protocol.HTTPS and not version:
            continue  # an https listener with no certificate is not served (never as plain http)
        network, found = servers_of(listener.application, listener.service, listener.port)
        mode = "tcp" if listener.protocol == Listener.Protocol.TCP else "http"
        backend = haproxy.Backend(
            listener_backend(listener.front_port),
            tuple(found),
            check_path=check_path(listener.service.spec) if mode == "http" else None,
            mode=mode,
            title=f"{listener} ← {listener.application.name}/{listener.service.name}:{listener.port}",
        )
        listener_tls = listener.protocol == Listener.Protocol.HTTPS and bool(version)
        config = haproxy.Router(
            bind="0.0.0.0",  # noqa: S104 - as above
            port=None,
            listeners=(haproxy.Listener(listener.name, listener.front_port, mode, backend.name, listener_tls),),
            backends=(backend,),
            certificates=version if listener_tls else "",
        )
        units.append(
            routers.Unit(
                routers.listener_name_of(cluster.pk, listener.front_port),
                routers.labels_of(cluster.pk, listener.front_port),
                {listener.front_port: listener.front_port},
                haproxy.build(config),
                frozenset({network}),
                files if listener_tls else {},
            )
        )
    return units


def listener_backend(front_port: int) -> str:
    """The backend of a listener's router."""
    return f"listener_{front_port}"


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
        # Routes and listeners of applications that are gone (a first deploy that failed removes its application
        # without a delete): their domains and ports are free.
        Route.objects.filter(cluster=cluster, application__deleted_at__isnull=False).delete()
        Listener.objects.filter(cluster=cluster, application__deleted_at__isnull=False).delete()
        units = desired(cluster, serving)
        for node in serving:
            done[node.name] = _sync_node(cluster, node, units)
    _published(cluster)
    return done


def _sync_node(cluster: Cluster, node: Node, units: list[routers.Unit]) -> str:
    row, _made = Router.objects.get_or_create(cluster=cluster, node=node)
    outcomes, reloads = [], 0
    try:
        endpoint = host.Endpoint.of(node)
        routers.remove(endpoint, cluster.pk, keep={unit.name for unit in units})  # listeners that went away
        for unit in units:
            container_id, fresh = routers.ensure(endpoint, unit, node.publish_ip or "0.0.0.0")
            if not fresh:
                routers.join_networks(endpoint, container_id, set(unit.networks) | {"bridge"})
            applied = routers.apply(endpoint, container_id, unit, fresh=fresh)
            reloads += 1 if applied.reloaded else 0
            outcomes.append("made" if applied.created else "reloaded" if applied.reloaded else f"{applied.commands}")
    except host.HostError as exc:
        Router.objects.filter(pk=row.pk).update(
            state=Router.State.FAILED, error=str(exc)[:500], updated_at=timezone.now()
        )
        log.warning("routing: the router of %s failed: %s", node.name, exc)
        return f"failed: {exc}"
    changed = row.state != Router.State.RUNNING or row.error or any(o != "0" for o in outcomes)
    if changed:  # the page's "Changed" is when Berth last changed something on the router
        Router.objects.filter(pk=row.pk).update(
            state=Router.State.RUNNING, error="", reloads=row.reloads + reloads, updated_at=timezone.now()
        )
    return ", ".join(outcomes)


def _published(cluster: Cluster) -> None:
    live.cluster_changed(cluster.pk)


def containers_changed(app_id: int) -> None:
    """Containers of an application changed (``apps.models.CONTAINER_LISTENERS``): a sync of its cluster's routers
    when it has routes or listeners."""
    cluster_id = Route.objects.filter(application_id=app_id).values_list("cluster_id", flat=True).first()
    if cluster_id is None:
        cluster_id = Listener.objects.filter(application_id=app_id).values_list("cluster_id", flat=True).first()
    if cluster_id is not None:
        schedule(cluster_id)


def node_changed(node: Node) -> None:
    """A node became ready, unreachable, draining or removed (``clusters.models.NODE_LISTENERS``): a sync of its
    cluster's routers when routing is on."""
    if enabled(node.cluster) or Router.objects.filter(node=node).exists():
        schedule(node.cluster_id)


def node_leaving(node: Node) -> None:
    """A node is being removed (``clusters.models.NODE_LEAVING``): its routers go while it still answers."""
    with _locked(node.cluster_id):
        routers.remove(host.Endpoint.of(node), node.cluster_id)
        Router.objects.filter(node=node).delete()


def _backends_of(service_ids: Iterable[int]) -> tuple[int | None, list[tuple[str, str, int]]]:
    """Where the services are served: their cluster, and (router container, backend, service) for each route and
    listener."""
    found: list[tuple[str, str, int]] = []
    cluster_id = None
    for route in Route.objects.filter(service_id__in=service_ids):
        cluster_id = route.cluster_id
        found.append((routers.name_of(cluster_id), haproxy.backend_name(route.domain, route.path), route.service_id))
    for listener in Listener.objects.filter(service_id__in=service_ids):
        cluster_id = listener.cluster_id
        name = routers.listener_name_of(cluster_id, listener.front_port)
        found.append((name, listener_backend(listener.front_port), listener.service_id))
    return cluster_id, found


def _maintenance(cluster_id: int, targets: list[tuple[str, str, int]], names: dict[int, list[str]]) -> list[str]:
    """Put the containers ``names`` (by service) in maintenance on every running router of the cluster that serves
    them, and leave them be; the nodes whose routers did not answer."""
    commands: dict[str, list[str]] = {}
    for container, backend, service_id in targets:
        for name in names.get(service_id, []):
            commands.setdefault(container, []).append(f"set server {backend}/{name} state maint")
    failed = []
    for router in Router.objects.filter(cluster_id=cluster_id, state=Router.State.RUNNING).select_related("node"):
        try:
            endpoint = host.Endpoint.of(router.node)
            for container, lines in commands.items():
                routers.runtime(endpoint, container, lines)
        except host.HostError as exc:
            log.warning("routing: the routers of %s could not let go: %s", router.node.name, exc)
            failed.append(router.node.name)
    return failed


def let_go(containers: list[Container]) -> None:
    """Take these containers out of every router of their cluster before they are removed (maintenance: no new
    request goes to them; the router retries a request that was on its way on another container)."""
    names: dict[int, list[str]] = {}
    for row in containers:
        names.setdefault(row.service_id, []).append(row.name)
    cluster_id, targets = _backends_of(names)
    if cluster_id is None or not enabled(Cluster.objects.get(pk=cluster_id)):
        return
    _maintenance(cluster_id, targets, names)


def forget(app: Application) -> None:
    """An application is being deleted (``apps.releases.BEFORE_DELETE``): every router of its cluster stops sending it
    requests and leaves its networks at once (they are removed next); its routes and listeners go, and a sync drops
    them from the routers."""
    services = list(app.services.all())
    cluster_id, targets = _backends_of(s.pk for s in services)
    if cluster_id is None:
        return
    names = {s.pk: list(Container.objects.filter(service=s).values_list("name", flat=True)) for s in services}
    shared = {name for s in services for name in converge.shared_networks(s)}
    networks = {converge.network_names(app, s)[0] for s in services if any(t[2] == s.pk for t in targets)} - shared
    with _locked(cluster_id):
        _maintenance(cluster_id, targets, names)
        for router in Router.objects.filter(cluster_id=cluster_id).select_related("node"):
            try:
                endpoint = host.Endpoint.of(router.node)
                for container in {t[0] for t in targets}:
                    for network in sorted(networks):
                        inside.disconnect(endpoint, container, network)
            except host.HostError as exc:
                log.warning("routing: the router of %s could not leave %s's networks: %s", router.node.name, app, exc)
        Route.objects.filter(application=app).delete()  # its domains and ports are free again
        Listener.objects.filter(application=app).delete()
    schedule(cluster_id)


PREVIEW = "preview."
"""The new version of a blue-green or canary release answers alone on ``preview.<domain>`` of each of its routes."""
IN_ROTATION_STATES = ("UP", "NOLB")  # NOLB: up, at weight 0 (a route's weight took it out of the share)
SYNC_AGAIN_SECONDS = 5.0


def _served(containers: list[Container]) -> tuple[Cluster | None, dict[int, list[str]]]:
    """The cluster whose routers serve these containers' services, and each service's backends there."""
    cluster_id, targets = _backends_of({c.service_id for c in containers})
    if cluster_id is None:
        return None, {}
    cluster = Cluster.objects.filter(pk=cluster_id).first()
    if cluster is None or not enabled(cluster):
        return None, {}
    backends: dict[int, list[str]] = {}
    for _container, backend, service_id in targets:
        backends.setdefault(service_id, []).append(backend)
    return cluster, backends


def in_rotation(containers: list[Container], timeout: float, alive: Callable[[], None] = lambda: None) -> list[str]:
    """Wait up to ``timeout`` seconds until every router that answers has these containers in each of their
    services' backends, up by its own health check (``apps.releases.IN_ROTATION``; ``alive`` is called while it
    waits); the names of those that are not. The routers are brought to the database's state first (and again every
    few seconds while waiting)."""
    cluster, backends = _served(containers)
    if cluster is None:
        return []
    deadline = time.monotonic() + timeout
    synced = 0.0
    while True:
        if time.monotonic() - synced >= SYNC_AGAIN_SECONDS:
            sync(cluster.pk)
            synced = time.monotonic()
        views = traffic.read(cluster)
        missing = sorted(
            {
                row.name
                for row in containers
                for backend in backends.get(row.service_id, [])
                if not _up(views.get(backend), row.name)
            }
        )
        if not missing or time.monotonic() >= deadline:
            return missing
        alive()
        time.sleep(0.5)


def _up(view: traffic.BackendView | None, name: str) -> bool:
    """Whether every router that answered for the backend has ``name`` up (a router that does not answer is not
    waited for: the release goes on as the others serve)."""
    server = view.servers.get(name) if view is not None else None
    answered = max((s.routers for s in view.servers.values()), default=0) if view is not None else 0
    return server is not None and server.status in IN_ROTATION_STATES and server.routers >= answered


def drain(containers: list[Container], timeout: float, alive: Callable[[], None] = lambda: None) -> None:
    """Wait up to ``timeout`` seconds until no router holds a connection to these containers (taken out of rotation
    by ``let_go``: requests on their way finish) (``apps.releases.DRAIN``)."""
    cluster, backends = _served(containers)
    if cluster is None:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        views = traffic.read(cluster)
        busy = [
            row.name
            for row in containers
            for backend in backends.get(row.service_id, [])
            if (view := views.get(backend)) is not None and (s := view.servers.get(row.name)) and s.sessions
        ]
        if not busy:
            return
        alive()
        time.sleep(0.2)


def sync_application(app_id: int) -> None:
    """Bring the routers serving an application to the database's state now (``apps.releases.ROUTERS_NOW``: a canary
    measures from the moment its weights are in place)."""
    cluster_id = Route.objects.filter(application_id=app_id).values_list("cluster_id", flat=True).first()
    if cluster_id is not None:
        sync(cluster_id)


def request_log(containers: list[Container], since: float) -> list[str]:
    """The request lines every running router of the cluster logged since ``since`` (a UNIX time) for the backends
    of these containers' services (``apps.releases.REQUEST_LOG``; ``haproxy.LOG_FORMAT``)."""
    cluster, backends = _served(containers)
    if cluster is None:
        return []
    wanted = {b for names in backends.values() for b in names}
    lines: list[str] = []
    for router in Router.objects.filter(cluster=cluster, state=Router.State.RUNNING).select_related("node"):
        try:
            text = routers.request_log(host.Endpoint.of(router.node, timeout=10), routers.name_of(cluster.pk), since)
        except host.HostError as exc:
            log.warning("routing: no request log from the router of %s: %s", router.node.name, exc)
            continue
        lines += [line for line in text.splitlines() if line.split(" ", 1)[0] in wanted]
    return lines


def previews(containers: list[Container]) -> list[str]:
    """Where the new version of these containers' services answers alone (``apps.releases.PREVIEWS``)."""
    cluster, _backends = _served(containers)
    if cluster is None:
        return []
    port = settings_of(cluster).port
    found = []
    for route in Route.objects.filter(service_id__in={c.service_id for c in containers}):
        path = "" if route.path == "/" else route.path
        where = f"{PREVIEW}{route.domain}" if port == 80 else f"{PREVIEW}{route.domain}:{port}"
        found.append(f"http://{where}{path}")
    return sorted(found)


def routed_services(app: Application) -> set[str]:
    """The names of an application's services that have routes while its cluster's routing is on
    (``apps.releases.ROUTED``)."""
    if not enabled(app.cluster):
        return set()
    return set(Route.objects.filter(application=app).values_list("service__name", flat=True))
