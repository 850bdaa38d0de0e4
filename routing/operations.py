"""What users do with the routing service: turn it on or off and say where it listens (the cluster's settings),
and change a route (a service's weight, the redirect of http to https). Every change is authorized, in the
operation log, and reaches the routers through ``routing.sync``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.permissions import authorize
from clusters.models import Cluster
from console import audit, live
from routing import sync
from routing.models import Route, RoutingSettings

RESERVED_PORTS = frozenset({2375, 2376, 2377, 4789, 7946})
"""The engine's and the swarm's own ports on a node: never a routing port."""


def configure(actor: Any, cluster: Cluster, data: dict[str, Any]) -> RoutingSettings:
    """Change the cluster's routing service: ``enabled``, ``port``, ``http_port`` (also on 80), ``https_port``
    (also on 443, TLS with the tenant's certificates); checked first, nothing changes when something is refused."""
    authorize(actor, "cs:ModifyRouting", cluster, target=cluster.name)
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}
    if "enabled" in data:
        if not isinstance(data["enabled"], bool):
            errors["enabled"] = [_("true or false.")]
        elif data["enabled"] and cluster.network_mode != Cluster.NetworkMode.OVERLAY:
            errors["enabled"] = [
                _(
                    "Routing needs the cluster network (routers reach containers on every node): set the cluster's "
                    "network mode to overlay."
                )
            ]
        else:
            changes["enabled"] = data["enabled"]
    if "port" in data:
        port = data["port"]
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            errors["port"] = [_("A port from 1 to 65535.")]
        elif port in RESERVED_PORTS or port in (80, 443):
            errors["port"] = [
                _("Port %(port)s is the engine's, the swarm's, or the http/https option's; choose another.")
                % {"port": port}
            ]
        else:
            changes["port"] = port
    for flag in ("http_port", "https_port"):
        if flag in data:
            if not isinstance(data[flag], bool):
                errors[flag] = [_("true or false.")]
            else:
                changes[flag] = data[flag]
    unknown = set(data) - {"enabled", "port", "http_port", "https_port"}
    if unknown:
        errors.update({name: [_("Unknown field.")] for name in sorted(unknown)})
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        authorize(actor, "cs:ModifyRouting", cluster, target=cluster.name)
        options = sync.settings_to_change(cluster)
        if "enabled" in changes:
            cluster.system_services = {**(cluster.system_services or {}), "routing": changes["enabled"]}
            cluster.save(update_fields=["system_services"])
        for key in ("port", "http_port", "https_port"):
            if key in changes:
                setattr(options, key, changes[key])
        options.save()
        audit.record(
            "cs:ModifyRouting",
            actor=actor,
            resource=cluster.resource_name,
            target=cluster.name,
            cluster_id=cluster.pk,
            parameters=changes,
        )
        sync.schedule(cluster.pk)
    live.cluster_changed(cluster.pk)
    return options


def set_weight(actor: Any, route: Route, weight: Any) -> Route:
    """Set the share of traffic the route's service gets among the services of its application that claim the
    same domain and path (0-100; 0 takes it out of the traffic without stopping it)."""
    return modify_route(actor, route, {"weight": weight})


def modify_route(actor: Any, route: Route, data: dict[str, Any]) -> Route:
    """Change a route: ``weight`` (its service's share, 0-100) and ``redirect_https`` (plain http requests for an
    https route are sent to https). Checked first; nothing changes when something is refused."""
    app = route.application
    target = f"{app.name}/{route.service.name}"
    authorize(actor, "cs:ModifyRoute", app, target=target)
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}
    if "weight" in data:
        weight = data["weight"]
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
            errors["weight"] = [_("A whole number from 0 to 100.")]
        else:
            changes["weight"] = weight
    if "redirect_https" in data:
        if not isinstance(data["redirect_https"], bool):
            errors["redirect_https"] = [_("true or false.")]
        elif data["redirect_https"] and not route.https:
            errors["redirect_https"] = [
                _("%(route)s is claimed for http only: claim it as https://%(route)s to serve and redirect it.")
                % {"route": str(route)}
            ]
        else:
            changes["redirect_https"] = data["redirect_https"]
    unknown = set(data) - {"weight", "redirect_https"}
    errors.update({name: [_("Unknown field.")] for name in sorted(unknown)})
    if not errors and not changes:
        errors["weight"] = [_("Give weight or redirect_https.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        authorize(actor, "cs:ModifyRoute", app, target=target)
        Route.objects.filter(pk=route.pk).update(**changes)
        audit.record(
            "cs:ModifyRoute",
            actor=actor,
            resource=app.resource_name,
            target=target,
            cluster_id=app.cluster_id,
            parameters={"route": str(route), **changes},
        )
        sync.schedule(app.cluster_id)
    for key, value in changes.items():
        setattr(route, key, value)
    live.cluster_changed(app.cluster_id)
    return route
