"""Routes and listeners from Compose: what an application's services claim is checked when it is planned (refusals
name the label and, for a conflict, the application that holds the route or the port) and recorded when its
services are written."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.compose import claims
from apps.models import Application
from clusters.models import Cluster
from routing import sync
from routing.models import Listener, Route
from routing.operations import RESERVED_PORTS


def root_of(cluster: Cluster) -> str:
    """The domain bare prefixes go under: the cluster's root domain, else ``<cluster>.localhost``."""
    return claims.root_of(cluster.name, cluster.root_domain)


def refusals(cluster: Cluster, model: dict[str, Any], project: str) -> list[str]:
    """Why the routes and listeners ``model`` claims cannot be had (a ``apps.stacks.PLAN_CHECKS`` check; their
    syntax and exposed ports are the Compose loader's, ``apps.compose.claims``)."""
    root = root_of(cluster)
    found: list[str] = []
    wanted: list[tuple[str, claims.Claim]] = []
    fronts: list[tuple[str, claims.ListenerClaim]] = []
    for name, service in sorted((model.get("services") or {}).items()):
        labels = {str(k): str(v) for k, v in (service.get("labels") or {}).items()}
        service_claims, refused = claims_of_service(labels, root)
        service_listeners, refused_listeners = claims.listeners_of(labels)
        found += [f"services.{name}.labels: {why}" for why in refused + refused_listeners]
        wanted += [(name, c) for c in service_claims]
        fronts += [(name, c) for c in service_listeners]
    found += _listener_refusals(cluster, project, fronts)
    if not wanted:
        return found
    domains = {c.domain for _n, c in wanted}
    held = Route.objects.filter(domain__in=domains).exclude(application__name=project, cluster=cluster)
    held = held.filter(application__deleted_at__isnull=True).values_list(
        "domain", "path", "application__name", "cluster__tenant_id", "cluster__name"
    )
    for domain, path, other, tenant_id, cluster_name in held:
        for name, claim in wanted:
            if claim.domain != domain:
                continue
            if tenant_id != cluster.tenant_id:
                found.append(f"services.{name}.labels: the domain {domain} belongs to another account")
            elif claim.path == path:
                where = "" if cluster_name == cluster.name else f" on cluster {cluster_name}"
                found.append(f"services.{name}.labels: {claim.address} is already routed to application {other}{where}")
    return sorted(set(found), key=found.index)


def _listener_refusals(cluster: Cluster, project: str, fronts: list[tuple[str, claims.ListenerClaim]]) -> list[str]:
    """Front ports that are the routers' own, the engine's, given twice, or another application's listener."""
    if not fronts:
        return []
    found = []
    options = sync.settings_of(cluster)
    own = {options.port: "the cluster's routing port"} | ({80: "the routers' port 80"} if options.http_port else {})
    own |= {443: "the routers' https port"} if options.https_port else {}
    own |= {port: "a port of the engine or the swarm" for port in RESERVED_PORTS}
    taken = {
        front: (listener, app)
        for front, listener, app in Listener.objects.filter(
            cluster=cluster, front_port__in=[c.front_port for _n, c in fronts]
        )
        .exclude(application__name=project)
        .values_list("front_port", "name", "application__name")
    }
    seen: dict[int, str] = {}
    for name, claim in fronts:
        where = f"services.{name}.labels: label aliyun.lb.port_{claim.port}"
        if claim.front_port in own:
            found.append(f"{where}: front port {claim.front_port} is {own[claim.front_port]}")
        elif claim.front_port in taken:
            listener, app = taken[claim.front_port]
            found.append(f"{where}: front port {claim.front_port} is taken by listener {listener} of application {app}")
        elif claim.front_port in seen:
            found.append(f"{where}: front port {claim.front_port} is taken by service {seen[claim.front_port]}")
        seen.setdefault(claim.front_port, name)
    return found


def claims_of_service(labels: dict[str, str], root: str) -> tuple[list[claims.Claim], list[str]]:
    """One service's claims and refusals."""
    return claims.claims_of(labels, root)


def refresh(app: Application) -> None:
    """Make the application's Route rows say what its services claim (weights of routes that stay are kept); a
    ``apps.stacks.SERVICES_WRITTEN`` callback."""
    cluster = app.cluster
    root = root_of(cluster)
    keep: list[int] = []
    fronts: list[int] = []
    with transaction.atomic():
        for service in app.services.all():
            labels = {str(k): str(v) for k, v in ((service.spec or {}).get("labels") or {}).items()}
            service_claims, _refused = claims.claims_of(labels, root)
            sticky = claims.sticky(labels)
            service_listeners, _refused = claims.listeners_of(labels)
            for listener in service_listeners:
                row, _made = Listener.objects.update_or_create(
                    cluster=cluster,
                    front_port=listener.front_port,
                    defaults={
                        "application": app,
                        "service": service,
                        "name": listener.name,
                        "protocol": listener.protocol,
                        "port": listener.port,
                    },
                )
                fronts.append(row.pk)
            for claim in service_claims:
                route, _made = Route.objects.update_or_create(
                    cluster=cluster,
                    service=service,
                    domain=claim.domain,
                    path=claim.path,
                    defaults={"application": app, "port": claim.port, "https": claim.https, "sticky": sticky},
                )
                keep.append(route.pk)
        gone = Route.objects.filter(application=app).exclude(pk__in=keep).delete()[0]
        gone += Listener.objects.filter(application=app).exclude(pk__in=fronts).delete()[0]
    if keep or fronts or gone:
        sync.schedule(cluster.pk)
