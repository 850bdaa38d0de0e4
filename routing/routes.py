"""Routes from Compose: what an application's services claim is checked when it is planned (refusals name the
label and, for a conflict, the application that holds the route) and recorded when its services are written."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.compose import claims
from apps.models import Application
from clusters.models import Cluster
from routing import sync
from routing.models import Route


def root_of(cluster: Cluster) -> str:
    """The domain bare prefixes go under: the cluster's root domain, else ``<cluster>.localhost``."""
    return cluster.root_domain or claims.default_root(cluster.name)


def refusals(cluster: Cluster, model: dict[str, Any], project: str) -> list[str]:
    """Why the routes ``model`` claims cannot be had (a ``apps.stacks.PLAN_CHECKS`` check)."""
    root = root_of(cluster)
    found: list[str] = []
    wanted: list[tuple[str, claims.Claim]] = []
    for name, service in sorted((model.get("services") or {}).items()):
        labels = {str(k): str(v) for k, v in (service.get("labels") or {}).items()}
        service_claims, refused = claims_of_service(labels, root)
        found += [f"services.{name}.labels: {why}" for why in refused]
        exposed = claims.exposed_ports(service)
        for port in sorted({c.port for c in service_claims} - exposed):
            found.append(
                f"services.{name}.labels: label aliyun.routing.port_{port}: the service does not expose port {port} "
                f"(add it to ports or expose; it exposes {', '.join(map(str, sorted(exposed))) or 'none'})"
            )
        wanted += [(name, c) for c in service_claims]
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


def claims_of_service(labels: dict[str, str], root: str) -> tuple[list[claims.Claim], list[str]]:
    """One service's claims and refusals."""
    return claims.claims_of(labels, root)


def refresh(app: Application) -> None:
    """Make the application's Route rows say what its services claim (weights of routes that stay are kept); a
    ``apps.stacks.SERVICES_WRITTEN`` callback."""
    cluster = app.cluster
    root = root_of(cluster)
    keep: list[int] = []
    with transaction.atomic():
        for service in app.services.all():
            labels = {str(k): str(v) for k, v in ((service.spec or {}).get("labels") or {}).items()}
            service_claims, _refused = claims.claims_of(labels, root)
            sticky = claims.sticky(labels)
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
    if keep or gone:
        sync.schedule(cluster.pk)
