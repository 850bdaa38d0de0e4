"""Use cases of clusters and nodes: create, rename, delete; register, provision; label, drain, reset.

The attach script's use cases are in ``clusters.attach``, user certificates in ``clusters.certificates``,
registry credentials in ``clusters.registries``, and the operator's grant of this machine in
``clusters.hostaccess``.

Each authorizes, validates, writes, records the operation log, and enqueues long work (a NodeTask) after the
transaction commits. Talking to an engine here is limited to the short checks a user waits for (does the new
node answer?), each with a bounded timeout.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from typing import Any, NoReturn
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import NAME_VALIDATOR, Tenant
from accounts.permissions import authorize, authorize_tenant, refuse
from clusters import authority, hostaccess, netpolicy, network, pki
from clusters import docker_host as host
from clusters.authority import ensure_ca
from clusters.models import Cluster, HostGrant, Node, NodeTask, node_changed
from clusters.providers import PROVIDERS
from clusters.security_policy import DEFAULTS
from clusters.workload import workload
from console import audit, context, live, work
from console.errors import OperationConflict

log = logging.getLogger(__name__)
LOCAL_CLUSTER = "local"
SYSTEM_SERVICES = ("routing", "logging", "monitoring", "volumes")
ENDPOINT_RE = re.compile(r"^(unix:///[\w./-]+|tcp://[A-Za-z0-9.-]+:\d{1,5})$")
LABEL_KEY_RE = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")
ZONE_RE = re.compile(r"^[a-z0-9-]{1,63}$")
"""A region's or a zone's name."""
DOMAIN_RE = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
"""A root domain, in lower case."""


def _clean_cluster_fields(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    if "name" in data:
        try:
            NAME_VALIDATOR(data["name"])
            out["name"] = data["name"]
        except ValidationError as exc:
            errors["name"] = exc.messages
    if "region" in data:
        if not ZONE_RE.match(str(data["region"])):
            errors["region"] = [_("Lower-case letters, digits and hyphens.")]
        out["region"] = data["region"]
    if "zones" in data:
        zones = data["zones"]
        if not isinstance(zones, list) or not all(isinstance(z, str) and ZONE_RE.match(z) for z in zones):
            errors["zones"] = [_("A list of zone names (lower-case letters, digits, hyphens).")]
        out["zones"] = zones
    if "root_domain" in data:
        domain = str(data["root_domain"]).strip().lower()
        if domain and not DOMAIN_RE.match(domain):
            errors["root_domain"] = [_("A domain name such as apps.example.com.")]
        out["root_domain"] = domain
    if "network_mode" in data:
        if data["network_mode"] not in Cluster.NetworkMode.values:
            errors["network_mode"] = [_("Choose one of: %(v)s.") % {"v": ", ".join(Cluster.NetworkMode.values)}]
        out["network_mode"] = data["network_mode"]
    if "network_pool" in data:
        try:
            out["network_pool"] = network.check_pool(str(data["network_pool"]), [])
        except ValueError as exc:
            errors["network_pool"] = [str(exc)]
    if "security_policy" in data:
        policy = data["security_policy"]
        if (
            not isinstance(policy, dict)
            or set(policy) - set(DEFAULTS)
            or not all(isinstance(v, bool) for k, v in policy.items() if k != "bind_allow")
            or not all(isinstance(p, str) and p.startswith("/") for p in policy.get("bind_allow", []))
        ):
            errors["security_policy"] = [
                _(
                    "An object of allow_privileged, allow_host_namespaces, allow_devices, "
                    "allow_docker_socket (true or false) and bind_allow (absolute paths)."
                )
            ]
        out["security_policy"] = policy
    if "system_services" in data:
        services = data["system_services"]
        if (
            not isinstance(services, dict)
            or set(services) - set(SYSTEM_SERVICES)
            or not all(isinstance(v, bool) for v in services.values())
        ):
            errors["system_services"] = [
                _("An object of %(names)s, each true or false.") % {"names": ", ".join(SYSTEM_SERVICES)}
            ]
        out["system_services"] = services
    if errors:
        raise ValidationError(errors)
    return out


def create_cluster(actor: Any, **fields: Any) -> Cluster:
    """Create a cluster (name, region, zones, network mode, root domain, system services) with its own CA."""
    authorize_tenant(actor, "cs:CreateCluster", f"acs:cs:*:{actor.tenant_id}:cluster/*")
    data = _clean_cluster_fields(fields)
    if "name" not in data:
        raise ValidationError({"name": [_("This field is required.")]})
    if Cluster.objects.filter(tenant_id=actor.tenant_id, name=data["name"]).exists():
        raise ValidationError({"name": [_("A cluster with this name already exists.")]})
    with transaction.atomic():
        cluster = Cluster.objects.create(tenant_id=actor.tenant_id, created_by=actor, **data)
        audit.record(
            "cs:CreateCluster",
            actor=actor,
            resource=cluster.resource_name,
            target=cluster.name,
            cluster_id=cluster.pk,
            parameters=data,
        )
    ensure_ca(cluster)
    return cluster


def update_cluster(actor: Any, cluster: Cluster, **fields: Any) -> Cluster:
    """Rename a cluster or change its zones, root domain, system services, network mode and address pool."""
    authorize(actor, "cs:ModifyCluster", cluster)
    data = _clean_cluster_fields(fields)
    if "security_policy" in data and not actor.is_primary:
        refuse(
            actor,
            "cs:ModifyCluster",
            resource=cluster.resource_name,
            target=cluster.name,
            cluster_id=cluster.pk,
            message=_("Only the primary account can change what sub-accounts may deploy."),
        )
    if (
        "name" in data
        and Cluster.objects.filter(tenant_id=cluster.tenant_id, name=data["name"]).exclude(pk=cluster.pk).exists()
    ):
        raise ValidationError({"name": [_("A cluster with this name already exists.")]})
    _check_network_change(cluster, data)
    with transaction.atomic():
        authorize(actor, "cs:ModifyCluster", cluster)
        for key, value in data.items():
            setattr(cluster, key, value)
        cluster.save()
        audit.record(
            "cs:ModifyCluster",
            actor=actor,
            resource=cluster.resource_name,
            target=cluster.name,
            cluster_id=cluster.pk,
            parameters=data,
        )
    return cluster


def _check_network_change(cluster: Cluster, data: dict[str, Any]) -> None:
    """The network mode and the address pool change only while nothing uses them: no application for the mode (its
    containers are on the other kind of network), no node in the cluster network for the pool (the swarm took its
    addresses from it when it was made); a pool never holds a node's address."""
    errors: dict[str, list[str]] = {}
    mode_changes = "network_mode" in data and data["network_mode"] != cluster.network_mode
    if mode_changes and workload().applications_of(cluster):
        errors["network_mode"] = [_("The cluster has applications: delete them before changing its network mode.")]
    if "network_pool" in data and data["network_pool"] != cluster.network_pool:
        live_nodes = Node.objects.filter(cluster=cluster).live()
        joined = [n.name for n in live_nodes if n.network_state in ("manager", "worker")]
        if joined:
            message = _("The cluster network exists (on %(nodes)s): its address pool is fixed.")
            errors["network_pool"] = [message % {"nodes": ", ".join(joined)}]
        else:
            try:
                network.check_pool(data["network_pool"], network.node_addresses(cluster))
            except ValueError as exc:
                errors["network_pool"] = [str(exc)]
    if errors:
        raise ValidationError(errors)


def delete_cluster(actor: Any, cluster: Cluster, *, force: bool = False) -> NodeTask | None:
    """Delete a cluster. Refused while it has applications unless ``force``: then a task removes Berth's
    containers from its nodes first and deletes the cluster at the end."""
    authorize(actor, "cs:DeleteCluster", cluster)
    live_apps = workload().applications_of(cluster)
    if live_apps and not force:
        audit.record(
            "cs:DeleteCluster",
            actor=actor,
            resource=cluster.resource_name,
            target=cluster.name,
            cluster_id=cluster.pk,
            outcome=audit.OperationLog.Outcome.FAILURE,
            error=_("it still has applications"),
        )
        raise OperationConflict(
            _("The cluster still has applications (%(apps)s). Delete them first, or force.")
            % {"apps": ", ".join(live_apps[:10])}
        )
    if NodeTask.objects.filter(cluster=cluster, status__in=NodeTask.ACTIVE).exists():
        raise OperationConflict(_("A node operation of this cluster is still in progress."))
    with transaction.atomic():
        authorize(actor, "cs:DeleteCluster", cluster)
        if not live_apps and not cluster.nodes.exclude(state=Node.State.REMOVED).exists():
            name, resource, pk = cluster.name, cluster.resource_name, cluster.pk
            delete_cluster_rows(cluster)
            audit.record("cs:DeleteCluster", actor=actor, resource=resource, target=name, cluster_id=pk)
            return None
        task = _start_task(actor, cluster, None, NodeTask.Kind.REMOVE, {"delete_cluster": True, "force": force})
        audit.record(
            "cs:DeleteCluster",
            actor=actor,
            resource=cluster.resource_name,
            target=cluster.name,
            cluster_id=cluster.pk,
            parameters={"force": force, "task": task.pk},
            outcome=audit.OperationLog.Outcome.ACCEPTED,
        )
    return task


def delete_cluster_rows(cluster: Cluster) -> None:
    """Delete the cluster's row and the rows of what ran on it (``workload``: applications, containers)."""
    workload().forget_cluster(cluster)
    cluster.delete()


# --- nodes -----------------------------------------------------------------------------------------


def _start_task(actor: Any, cluster: Cluster, node: Node | None, kind: str, params: dict[str, Any]) -> NodeTask:
    """A node task row (enqueued after commit); refused while another runs on the node or the cluster's CA is
    being rotated (a rotation restarts engines). The task keeps the name of what it works on.

    One active task per node: the node's row is locked until the caller's transaction ends before the check (a
    second request waits, then sees the first's task), and the database holds the rule too
    (``node_task_one_active_per_node``); a write that still meets another is the same conflict."""
    from clusters.tasks import run_node_task

    target = node.name if node is not None else str(params.get("name") or cluster.name)
    busy = OperationConflict(_("Another operation on node %(node)s is still in progress.") % {"node": target})
    if node is not None:
        list(Node.objects.select_for_update().filter(pk=node.pk).values_list("pk", flat=True))
        if NodeTask.objects.filter(node=node, status__in=NodeTask.ACTIVE).exists():
            raise busy
    rotating = NodeTask.objects.filter(cluster=cluster, kind=NodeTask.Kind.ROTATE, status__in=NodeTask.ACTIVE)
    if rotating.exists():
        raise OperationConflict(_("The cluster's CA is being rotated; try again when that is done."))
    try:
        with transaction.atomic():
            task = NodeTask.objects.create(
                cluster=cluster,
                node=node,
                kind=kind,
                params=params,
                target_name=target[:100],
                actor=actor,
                request_id=context.request_id.get(),
                source=context.source.get(),
            )
    except IntegrityError as exc:
        raise busy from exc
    work.enqueue(lambda task_id: run_node_task.delay(task_id), task.pk)  # a broker outage never fails it
    return task


def canonical_endpoint(url: str) -> str:
    """The endpoint in one spelling (lower-case host, port without zeros, normalised socket path); ValidationError
    when it is neither ``unix:///path`` nor ``tcp://host:port``."""
    if not ENDPOINT_RE.match(url or ""):
        raise ValidationError({"endpoint": [_("Use unix:///path/to/docker.sock or tcp://host:port.")]})
    if url.startswith("unix://"):
        return "unix://" + os.path.normpath(url[len("unix://") :]).replace("//", "/")
    host_part, port = url[len("tcp://") :].rsplit(":", 1)
    if not 1 <= int(port) <= 65535:
        raise ValidationError({"endpoint": [_("The port must be 1-65535.")]})
    return f"tcp://{host_part.lower().rstrip('.')}:{int(port)}"


def _check_labels(labels: Any) -> dict[str, str]:
    if not isinstance(labels, dict) or len(labels) > 64:
        raise ValidationError({"labels": [_("An object of at most 64 labels.")]})
    for key, value in labels.items():
        if not isinstance(key, str) or not LABEL_KEY_RE.match(key):
            raise ValidationError(
                {"labels": [_("Label %(k)s: lower-case letters, digits, '.', '-', '_'.") % {"k": str(key)[:40]}]}
            )
        if not isinstance(value, str) or len(value) > 128 or any(c in value for c in "\n\r\x00=,"):
            raise ValidationError(
                {
                    "labels": [
                        _("Label %(k)s: a value of at most 128 characters without '=', ',' or line breaks.")
                        % {"k": key}
                    ]
                }
            )
    return dict(labels)


def _check_zone(cluster: Cluster, zone: str) -> str:
    zone = (zone or "").strip()
    if zone and cluster.zones and zone not in cluster.zones:
        raise ValidationError(
            {"zone": [_("Choose one of the cluster's zones: %(z)s.") % {"z": ", ".join(cluster.zones)}]}
        )
    if zone and not ZONE_RE.match(zone):
        raise ValidationError({"zone": [_("Lower-case letters, digits and hyphens.")]})
    return zone


def _node_name(cluster: Cluster, wanted: str) -> str:
    NAME_VALIDATOR(wanted)
    if Node.objects.filter(cluster=cluster, name=wanted).exists():
        raise ValidationError({"name": [_("A node with this name already exists in the cluster.")]})
    return wanted


def _refuse(actor: Any, cluster: Cluster, name: str, parameters: dict[str, Any], detail: str, message: Any) -> NoReturn:
    """Record a refused registration (the detail only in the server log) and raise ``message`` to the caller."""
    log.warning(
        "node registration refused (tenant %s, cluster %s, %s): %s",
        cluster.tenant_id,
        cluster.pk,
        parameters.get("endpoint"),
        detail,
    )
    audit.record(
        "cs:AddClusterNodes",
        actor=actor,
        tenant=cluster.tenant,
        resource=cluster.resource_name,
        target=name,
        cluster_id=cluster.pk,
        parameters=parameters,
        outcome=audit.OperationLog.Outcome.FAILURE,
        error=str(message),
    )
    raise ValidationError({"endpoint": [str(message)]})


def _already_mine(existing: Node) -> str:
    return _("This engine is already a node of your cluster %(cluster)s (node %(node)s).") % {
        "node": existing.name,
        "cluster": existing.cluster.name,
    }


def register_node(
    actor: Any,
    cluster: Cluster,
    *,
    name: str,
    endpoint: str,
    publish_ip: str,
    zone: str = "",
    labels: dict[str, str] | None = None,
    tls_ca: str = "",
    tls_cert: str = "",
    tls_key: str = "",
    provider: str = Node.Provider.MANUAL,
    provider_ref: str = "",
    recorded_as: Any = None,
    log_parameters: dict[str, Any] | None = None,
    record_success: bool = True,
) -> Node:
    """Add an engine to a cluster after checking that it answers (and that its TLS material verifies).

    ``actor`` must be allowed to add nodes; ``recorded_as`` is whom the operation log names when that is not the
    actor (the attach script's token). ``record_success`` False: the caller records the outcome itself (a
    provisioning task's own entry says the node joined; one success entry per node, not two). The endpoint is
    this machine's engine only with the operator's grant (``unix://``; the host's engine ID over tcp), its
    addresses must be ones a node may have
    (``clusters.netpolicy``), and its engine must not be a node already, whatever the endpoint string. Every
    failure that depends on what listens at the endpoint gives the same message; the reason goes to the log.
    """
    authorize(actor, "cs:AddClusterNodes", cluster)
    logged = recorded_as or actor
    try:
        _node_name(cluster, name)
    except ValidationError as exc:
        raise ValidationError({"name": exc.messages}) from exc
    endpoint = canonical_endpoint(endpoint)
    try:
        ipaddress.ip_address(publish_ip)
    except ValueError as exc:
        raise ValidationError({"publish_ip": [_("An IP address.")]}) from exc
    zone = _check_zone(cluster, zone)
    labels = _check_labels(labels or {})
    if network.uses_overlay(cluster):
        try:
            network.check_pool(cluster.network_pool, [publish_ip, urlsplit(endpoint).hostname or ""])
        except ValueError as exc:
            raise ValidationError({"publish_ip": [str(exc)]}) from exc
    parameters = {
        "name": name,
        "endpoint": endpoint,
        "publish_ip": publish_ip,
        "zone": zone,
        "tls": bool(tls_cert or tls_key or tls_ca),
        "provider": provider,
        **(log_parameters or {}),
    }
    mine = hostaccess.own_node_with_engine(cluster.tenant_id, endpoint=endpoint)
    if mine is not None:
        _refuse(logged, cluster, name, parameters, "already a node of this tenant", _already_mine(mine))
    on_machine = endpoint.startswith("unix://") or getattr(PROVIDERS.get(provider), "on_this_machine", False)
    if on_machine and not hostaccess.has_grant(cluster.tenant_id):
        _refuse(logged, cluster, name, parameters, "this machine without the operator's grant", hostaccess.NOT_GRANTED)
    tls = None
    if tls_cert or tls_key or tls_ca:
        if not (tls_cert and tls_key and tls_ca):
            raise ValidationError({"tls": [_("Give the CA certificate, the client certificate and its key.")]})
        try:
            pki.check_bundle(ca_pem=tls_ca, cert_pem=tls_cert, key_pem=tls_key, purpose="client")
        except pki.CertificateProblem as exc:
            raise ValidationError({"tls": [str(exc)]}) from exc
        tls = host.Tls(ca_pem=tls_ca, cert_pem=tls_cert, key_pem=tls_key)
    elif endpoint.startswith("tcp://") and endpoint.endswith(":2376"):
        raise ValidationError({"tls": [_("Port 2376 is Docker's TLS port: upload the CA, certificate and key.")]})
    target = host.Endpoint(url=endpoint, timeout=min(settings.BERTH_DOCKER_TIMEOUT, 10.0), tls=tls)
    info: dict[str, Any] = {}
    try:
        if endpoint.startswith("tcp://") and not target.is_local:
            address, port = endpoint[len("tcp://") :].rsplit(":", 1)
            netpolicy.checked_addresses(address, int(port))
        info = host.ping(target)
        hostaccess.check_engine(cluster.tenant_id, info.get("engine_id", ""))
    except (host.HostError, netpolicy.AddressRefused, hostaccess.EngineRefused) as exc:
        host.forget(target)
        mine = hostaccess.own_node_with_engine(cluster.tenant_id, engine_id=info.get("engine_id", ""))
        if mine is not None:
            _refuse(logged, cluster, name, parameters, f"already a node of this tenant: {exc}", _already_mine(mine))
        _refuse(logged, cluster, name, parameters, f"{type(exc).__name__}: {exc}", hostaccess.REFUSED)
    host.forget(target)
    try:
        with transaction.atomic():
            authorize(actor, "cs:AddClusterNodes", cluster)
            node = Node.objects.create(
                cluster=cluster,
                name=name,
                endpoint=endpoint,
                publish_ip=publish_ip,
                zone=zone,
                labels=labels,
                info=info,
                engine_id=info["engine_id"],
                state=Node.State.READY,
                last_seen_at=timezone.now(),
                provider=provider,
                provider_ref=provider_ref,
                tls_ca=tls.ca_pem if tls else "",
                tls_cert=tls.cert_pem if tls else "",
                tls_key_sealed=authority.seal(tls.key_pem) if tls else "",
            )
            # Pages of the cluster that are open show it at once (after commit), as they show every later change.
            live.publish("cluster", cluster.pk, node.as_live())
            if record_success:
                audit.record(
                    "cs:AddClusterNodes",
                    actor=logged,
                    tenant=cluster.tenant,
                    resource=cluster.resource_name,
                    target=name,
                    cluster_id=cluster.pk,
                    parameters=parameters,
                )
    except IntegrityError as exc:
        mine = hostaccess.own_node_with_engine(cluster.tenant_id, engine_id=info["engine_id"]) or (
            hostaccess.own_node_with_engine(cluster.tenant_id, endpoint=endpoint)
        )
        if mine is not None:
            _refuse(logged, cluster, name, parameters, f"already a node of this tenant: {exc}", _already_mine(mine))
        _refuse(logged, cluster, name, parameters, f"taken meanwhile: {exc}", hostaccess.REFUSED)
    return node


def node_removed(node: Node) -> OperationConflict:
    """The one refusal of an operation on a node that has left its cluster (its row stays for its history)."""
    return OperationConflict(_("Node %(node)s has been removed from the cluster.") % {"node": node.name})


def _still_in_cluster(node: Node) -> None:
    """Refuse (``node_removed``) a node that has left its cluster, as the database has it now: inside a
    transaction the node's row is locked, so a removal cannot slip in between the check and the write."""
    rows = Node.objects.live().filter(pk=node.pk)
    if transaction.get_connection().in_atomic_block:
        rows = rows.select_for_update()
    if not rows.exists():
        raise node_removed(node)


def update_node(actor: Any, node: Node, *, labels: dict[str, str] | None = None, zone: str | None = None) -> Node:
    """Edit a node's labels and zone (scheduling reads them). Refused for a removed node."""
    authorize(actor, "cs:ModifyClusterNode", node)
    _still_in_cluster(node)
    changes: dict[str, Any] = {}
    if labels is not None:
        node.labels = changes["labels"] = _check_labels(labels)
    if zone is not None:
        node.zone = changes["zone"] = _check_zone(node.cluster, zone)
    with transaction.atomic():
        _still_in_cluster(node)
        node.save(update_fields=["labels", "zone"])
        audit.record(
            "cs:ModifyClusterNode",
            actor=actor,
            resource=node.resource_name,
            target=node.name,
            cluster_id=node.cluster_id,
            parameters=changes,
        )
    live.publish("cluster", node.cluster_id, node.as_live())
    return node


def remove_node(actor: Any, node: Node, *, drain: bool = True) -> NodeTask:
    """Drain the node (its containers recreated on other ready nodes first) and take it out of the cluster.

    Refused at once, with the reason, when the other nodes cannot hold the containers.
    """
    authorize(actor, "cs:RemoveClusterNodes", node)
    _still_in_cluster(node)
    if drain:
        workload().plan_drain(node)  # raises PlacementError naming the rule when the others cannot hold them
    with transaction.atomic():
        authorize(actor, "cs:RemoveClusterNodes", node)
        _still_in_cluster(node)
        kind = NodeTask.Kind.DRAIN if drain else NodeTask.Kind.REMOVE
        task = _start_task(actor, node.cluster, node, kind, {"drain": drain})
        if drain:
            Node.objects.filter(pk=node.pk).update(state=Node.State.DRAINING)
            node.state = Node.State.DRAINING
            transaction.on_commit(lambda: node_changed(node))
        audit.record(
            "cs:RemoveClusterNodes",
            actor=actor,
            resource=node.resource_name,
            target=node.name,
            cluster_id=node.cluster_id,
            parameters={"drain": drain, "task": task.pk},
            outcome=audit.OperationLog.Outcome.ACCEPTED,
        )
    return task


def reset_node(actor: Any, node: Node) -> NodeTask:
    """Remove every Berth container of the node's cluster from the node (the applications keep their desired
    scale). Refused (HostRefused) when Berth may not reach the node (``docker_host.admit``)."""
    authorize(actor, "cs:ResetClusterNode", node)
    _still_in_cluster(node)
    host.admit(node)
    with transaction.atomic():
        _still_in_cluster(node)
        task = _start_task(actor, node.cluster, node, NodeTask.Kind.RESET, {})
        audit.record(
            "cs:ResetClusterNode",
            actor=actor,
            resource=node.resource_name,
            target=node.name,
            cluster_id=node.cluster_id,
            parameters={"task": task.pk},
            outcome=audit.OperationLog.Outcome.ACCEPTED,
        )
    return task


def provision_node(
    actor: Any,
    cluster: Cluster,
    *,
    name: str,
    provider: str = "local",
    zone: str = "",
    labels: dict[str, str] | None = None,
) -> NodeTask:
    """Ask a provider for a new host, behind the cluster's TLS; it joins the cluster when it answers.

    A provider that starts engines on this machine (``local``) needs the operator's grant to the tenant.
    """
    authorize(actor, "cs:AddClusterNodes", cluster)
    if provider not in PROVIDERS:
        raise ValidationError({"provider": [_("Unknown provider. Available: %(p)s.") % {"p": ", ".join(PROVIDERS)}]})
    if PROVIDERS[provider].on_this_machine and not hostaccess.has_grant(cluster.tenant_id):
        audit.record(
            "cs:AddClusterNodes",
            actor=actor,
            resource=cluster.resource_name,
            target=name,
            cluster_id=cluster.pk,
            parameters={"name": name, "provider": provider},
            outcome=audit.OperationLog.Outcome.FAILURE,
            error=str(hostaccess.NOT_GRANTED),
        )
        raise ValidationError({"provider": [str(hostaccess.NOT_GRANTED)]})
    try:
        _node_name(cluster, name)
    except ValidationError as exc:
        raise ValidationError({"name": exc.messages}) from exc
    params = {
        "name": name,
        "provider": provider,
        "zone": _check_zone(cluster, zone),
        "labels": _check_labels(labels or {}),
    }
    ensure_ca(cluster)
    with transaction.atomic():
        task = _start_task(actor, cluster, None, NodeTask.Kind.PROVISION, params)
        audit.record(
            "cs:AddClusterNodes",
            actor=actor,
            resource=cluster.resource_name,
            target=name,
            cluster_id=cluster.pk,
            parameters={**params, "task": task.pk},
            outcome=audit.OperationLog.Outcome.ACCEPTED,
        )
    return task


# --- the built-in local cluster --------------------------------------------------------------------


def give_this_machine(tenant: Tenant, primary: Any) -> None:
    """Setup's gift to the first tenant (``accounts.operations.FIRST_TENANT_GETS``): the "local" cluster; one tenant
    at most gets this machine."""
    ensure_local_cluster(tenant, actor=primary, automatic=True)


def ensure_local_cluster(tenant: Tenant, actor: Any = None, *, automatic: bool = False) -> Cluster | None:
    """Give ``tenant`` the cluster "local" whose one node is this machine's own engine (idempotent).

    This is the operator's grant of this machine to the tenant (``hostaccess``), given in the same transaction
    once the node exists. ``automatic`` is setup's grant to the first tenant: at most one tenant ever holds it
    (a database constraint), so two setups racing cannot both get the machine; the loser gets no cluster (None).
    Refused (ValidationError) when the engine already is a node of another tenant.
    """
    endpoint = host.Endpoint(url=settings.BERTH_LOCAL_DOCKER_URL, timeout=settings.BERTH_DOCKER_TIMEOUT)
    try:
        info = host.ping(endpoint)
        state, seen = Node.State.READY, timezone.now()
    except host.HostError:
        info, state, seen = {}, Node.State.UNREACHABLE, None
    engine_id = info.get("engine_id", "")
    try:
        with transaction.atomic():
            others = Node.objects.exclude(state=Node.State.REMOVED).exclude(cluster__tenant=tenant)
            taken = others.filter(endpoint=endpoint.url).exists() or (
                engine_id and others.filter(engine_id=engine_id).exists()
            )
            if taken or (automatic and HostGrant.objects.filter(automatic=True).exclude(tenant=tenant).exists()):
                if automatic:
                    return None
                raise ValidationError(_("This machine's engine is already a node of another tenant's cluster."))
            cluster, created = Cluster.objects.get_or_create(tenant=tenant, name=LOCAL_CLUSTER)
            node = Node.objects.filter(cluster=cluster, endpoint=endpoint.url).exclude(state=Node.State.REMOVED).first()
            node_created = node is None
            if node is None:
                node = Node(
                    cluster=cluster,
                    name=info.get("hostname") or "local",
                    endpoint=endpoint.url,
                    publish_ip=settings.BERTH_LOCAL_PUBLISH_IP,
                    provider=Node.Provider.BUILTIN,
                )
            node.state = state
            if info:
                node.info, node.last_seen_at, node.engine_id = info, seen, engine_id
            node.save()
            note = "its local cluster, at setup" if automatic else "its local cluster"
            hostaccess.grant(tenant, note=note, automatic=automatic)
    except IntegrityError:
        if automatic:  # another setup took the machine meanwhile (node or automatic grant): this one gets nothing
            return None
        raise ValidationError(_("This machine's engine is already a node of another tenant's cluster.")) from None
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
    ensure_ca(cluster)
    return cluster
