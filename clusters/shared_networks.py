"""Shared networks of a cluster: what Compose's ``external: true`` names. A user makes one in the console or the
API; applications of the same cluster that join it reach each other by name there (each application's own networks
stay its own). On the nodes it is an overlay of the cluster network, made when the first application joins it
(``apps.converge.prepare_networks``) and removed with the row. Only the cluster's own applications can name it: a
Compose file is resolved against the shared networks of the cluster it deploys to (``apps.stacks.resolve_networks``),
so another tenant's network is one that does not exist."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from accounts.permissions import authorize
from clusters import docker_host as host
from clusters import network
from clusters.models import Cluster, Network
from clusters.workload import workload
from console import audit, live
from console.errors import OperationConflict

SHARED_NAME = re.compile(r"^(?=.{1,63}$)[a-z0-9](-*[a-z0-9]+)*$")
"""Lower-case letters, digits and inner "-": a swarm network's name must be a DNS name component (no ".", no "-" at
an end), never "_" so a shared network is never named like an application's own (``<application>_<network>``), and
one case so no two differ only by it."""
NAME_RULE = _lazy('Lower-case letters, digits and "-" inside, at most 63, starting and ending with a letter or digit.')
RESERVED = frozenset({"bridge", "host", "none", "ingress", "default"})
"""Docker's own networks (and Compose's name for an application's default one): never a shared network."""


def users(cluster: Cluster) -> dict[str, list[str]]:
    """Shared network name → the applications of the cluster that join it."""
    return workload().network_users(cluster)


def create_network(actor: Any, cluster: Cluster, name: Any) -> Network:
    """Make a shared network of the cluster."""
    name = str(name or "").strip()
    authorize(actor, "cs:CreateClusterNetwork", cluster, target=name[:63])
    if not name:
        raise ValidationError({"name": [_("Give the network a name.")]})
    if not SHARED_NAME.match(name):
        raise ValidationError({"name": [str(NAME_RULE)]})
    if name in RESERVED:
        raise ValidationError(
            {"name": [_("%(name)s is one of Docker's own networks: choose another name.") % {"name": name}]}
        )
    if not network.uses_overlay(cluster):
        raise ValidationError(
            {"name": [_("Shared networks need the cluster network: set the cluster's network mode to overlay.")]}
        )
    try:
        with transaction.atomic():
            authorize(actor, "cs:CreateClusterNetwork", cluster, target=name)
            made = Network.objects.create(cluster=cluster, name=name, created_by=actor)
            _record("cs:CreateClusterNetwork", actor, cluster, name, parameters={"name": name})
    except IntegrityError as exc:
        raise ValidationError({"name": [_("The cluster already has a network of this name.")]}) from exc
    live.cluster_changed(cluster.pk)
    return made


def delete_network(actor: Any, shared: Network) -> None:
    """Delete a shared network no application joins, from the nodes and then its row."""
    cluster = shared.cluster
    authorize(actor, "cs:DeleteClusterNetwork", cluster, target=shared.name)
    joined = users(cluster).get(shared.name) or []
    failure = ""
    if joined:
        failure = _("Applications join it: %(apps)s. Remove it from their Compose files first.") % {
            "apps": ", ".join(joined[:10])
        }
    else:
        try:
            network.remove_networks(cluster, {**host.managed(), "berth.network": shared.name})
        except host.HostError as exc:
            failure = _("The nodes did not remove it: %(e)s. Try again.") % {"e": exc}
    if failure:
        failed = audit.OperationLog.Outcome.FAILURE
        _record("cs:DeleteClusterNetwork", actor, cluster, shared.name, outcome=failed, error=failure)
        raise OperationConflict(failure)
    with transaction.atomic():
        Network.objects.filter(pk=shared.pk).delete()
        _record("cs:DeleteClusterNetwork", actor, cluster, shared.name)
    live.cluster_changed(cluster.pk)


def _record(action: str, actor: Any, cluster: Cluster, name: str, **extra: Any) -> None:
    """The operation-log entry of a shared network's change: the cluster as resource, the network as target."""
    audit.record(action, actor=actor, resource=cluster.resource_name, target=name, cluster_id=cluster.pk, **extra)
