"""Console pages of clusters and nodes."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.pages import every, page, page_object, with_resources
from accounts.permissions import may, resource_of
from clusters import attach, certificates, hostaccess, pki, registries, rotation, shared_networks
from clusters import docker_host as host
from clusters import operations as ops
from clusters.api import clusters_for
from clusters.forms import ClusterForm, NodeEditForm, ProvisionForm, RegisterNodeForm, RegistryCredentialForm
from clusters.models import Cluster, Network, Node, NodeTask, RegistryCredential, UserCertificate
from console.errors import Unsatisfiable
from console.forms import refused
from console.paging import page_of


@page(get="cs:DescribeClusters")
def cluster_list(request: HttpRequest) -> HttpResponse:
    listing = page_of(request, clusters_for(request.user))
    return render(request, "clusters/cluster_list.html", {"clusters": list(listing.object_list), "page": listing})


@page(get="cs:CreateCluster", post="cs:CreateCluster", scope={"cs:CreateCluster": every("cs", "cluster")})
def cluster_create(request: HttpRequest) -> HttpResponse:
    form = ClusterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            cluster = ops.create_cluster(request.user, **form.values())
        except ValidationError as exc:
            refused(form, exc)
        else:
            messages.success(request, _("Cluster %(name)s created. Add nodes to it.") % {"name": cluster.name})
            return redirect("clusters:detail", pk=cluster.pk)
    return render(request, "clusters/cluster_form.html", {"form": form})


@page(
    get="cs:DescribeClusters",
    post="cs:AddClusterNodes",
    also=(
        "cs:DescribeClusterNodes",
        "cs:DescribeApplications",
        "cs:DescribeClusterCertificates",
        "cs:IssueClusterCertificate",
        "cs:DescribeClusterNetworks",
    ),
)
def cluster_detail(request: HttpRequest, pk: int) -> HttpResponse:
    cluster = page_object(request, clusters_for(request.user), pk=pk)
    register = RegisterNodeForm(request.POST if request.POST.get("form") == "register" else None, prefix="reg")
    provision = ProvisionForm(request.POST if request.POST.get("form") == "provision" else None, prefix="prov")
    command = None
    if request.method == "POST":
        try:
            if request.POST.get("form") == "register" and register.is_valid():
                data = register.cleaned_data
                node = ops.register_node(
                    request.user,
                    cluster,
                    name=data["name"],
                    endpoint=data["endpoint"],
                    publish_ip=data["publish_ip"],
                    zone=data["zone"],
                    tls_ca=data["tls_ca"],
                    tls_cert=data["tls_cert"],
                    tls_key=data["tls_key"],
                )
                messages.success(request, _("Node %(name)s added.") % {"name": node.name})
                return redirect("clusters:detail", pk=cluster.pk)
            if request.POST.get("form") == "provision" and provision.is_valid():
                ops.provision_node(request.user, cluster, **provision.cleaned_data)
                messages.info(request, _("Provisioning a new node; it appears here when it answers."))
                return redirect("clusters:detail", pk=cluster.pk)
            if request.POST.get("form") == "attach":
                command = attach.attach_command(request.user, cluster, console_url=request.build_absolute_uri("/"))
        except ValidationError as exc:
            refused(register if request.POST.get("form") == "register" else provision, exc)
    nodes = list(
        Node.objects.live()
        .visible_to(request.user)
        .filter(cluster=cluster)
        .select_related("cluster")
        .prefetch_related("containers")
    )
    # What runs on the cluster, through the relations the applications declare (they sit above clusters).
    apps = cluster.applications.visible_to(request.user).filter(deleted_at__isnull=True)
    tasks = NodeTask.objects.visible_to(request.user).filter(cluster=cluster).select_related("node")[:8]
    resource = resource_of(cluster)
    issued = (
        UserCertificate.objects.visible_to(request.user).filter(cluster=cluster).select_related("user", "cluster")[:20]
    )
    may_see_networks = may(request.user, "cs:DescribeClusterNetworks", resource)
    shared = list(Network.objects.visible_to(request.user).filter(cluster=cluster)) if may_see_networks else []
    users = shared_networks.users(cluster) if shared else {}
    for item in shared:
        item.applications = users.get(item.name, [])  # type: ignore[attr-defined]
    return render(
        request,
        "clusters/cluster_detail.html",
        {
            "cluster": cluster,
            "may_see_networks": may_see_networks,
            "shared_networks": shared,
            "may_issue": may(request.user, certificates.ISSUE, resource),
            "old_ca_nodes": [n for n in nodes if n.ca_state == "old"],
            "ca_fingerprint": pki.fingerprint(cluster.ca_cert) if cluster.ca_cert else "",
            "issued": certificates.statuses(issued),
            "cert_hours": settings.BERTH_USER_CERT_HOURS,
            "host_granted": hostaccess.has_grant(cluster.tenant_id),
            "nodes": nodes,
            "applications": apps,
            "tasks": tasks,
            "register": register,
            "provision": provision,
            "command": command,
            "edit": ClusterForm(initial=_settings_of(cluster), cluster=cluster),
        },
    )


def _settings_of(cluster: Cluster) -> dict[str, Any]:
    """The settings form's values of the cluster (a disabled field keeps its value from here)."""
    return {
        "name": cluster.name,
        "region": cluster.region,
        "zones": " ".join(cluster.zones),
        "root_domain": cluster.root_domain,
        "network_mode": cluster.network_mode,
        "network_pool": cluster.network_pool,
        "logging": (cluster.system_services or {}).get("logging", True) is not False,
        "monitoring": (cluster.system_services or {}).get("monitoring", True) is not False,
    }


@page(
    post={
        "edit": "cs:ModifyCluster",
        "delete": "cs:DeleteCluster",
        "rotate-ca": rotation.ROTATE,
        "network-create": "cs:CreateClusterNetwork",
        "network-delete": "cs:DeleteClusterNetwork",
    },
    verb="change",
)
@require_POST
def cluster_change(request: HttpRequest, pk: int, change: str) -> HttpResponse:
    about = str(request.POST.get("name") or request.POST.get("network") or "")[:63] if "network" in change else ""
    cluster = page_object(request, Cluster.objects.all(), about=about, pk=pk)
    try:
        if change == "edit":
            form = ClusterForm(request.POST, cluster=cluster, initial=_settings_of(cluster))
            if form.is_valid():
                ops.update_cluster(request.user, cluster, **form.values())
                messages.success(request, _("Cluster saved."))
            else:
                messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        elif change == "delete":
            task = ops.delete_cluster(request.user, cluster, force=request.POST.get("force") == "on")
            messages.info(request, _("Deleting the cluster.") if task else _("Cluster deleted."))
            return redirect("clusters:list")
        elif change == "network-create":
            made = shared_networks.create_network(request.user, cluster, request.POST.get("name", ""))
            messages.success(request, _("Shared network %(name)s created.") % {"name": made.name})
        elif change == "network-delete":
            found = Network.objects.filter(cluster=cluster, name=request.POST.get("network", "")).first()
            if found is None:
                messages.error(request, _("The cluster has no such network."))
            else:
                shared_networks.delete_network(request.user, found)
                messages.success(request, _("Shared network %(name)s deleted.") % {"name": found.name})
        elif change == "rotate-ca":
            if request.POST.get("confirm") != "on":
                messages.error(request, _("Tick the box to confirm the rotation of the cluster's CA."))
            else:
                rotation.rotate_ca(request.user, cluster)
                messages.info(
                    request,
                    _(
                        "The cluster has a new CA. Berth restarts the engines it started with new certificates; "
                        "run the renew command of every other node still on the old CA."
                    ),
                )
    except (ValidationError, ops.OperationConflict, host.HostError) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    return redirect("clusters:detail", pk=cluster.pk)


@page(get="cs:DescribeClusterNodes")
def node_list(request: HttpRequest) -> HttpResponse:
    nodes = (
        Node.objects.live()
        .visible_to(request.user)
        .select_related("cluster")
        .prefetch_related("containers")
        .order_by("cluster_id", "name", "id")
    )
    listing = page_of(request, nodes)
    return render(request, "clusters/node_list.html", {"nodes": list(listing.object_list), "page": listing})


@page(get="cs:DescribeClusterNodes", post="cs:ModifyClusterNode")
def node_detail(request: HttpRequest, pk: int) -> HttpResponse:
    node = page_object(request, Node.objects.live().select_related("cluster"), pk=pk)
    form = NodeEditForm(
        request.POST or None,
        initial={"zone": node.zone, "labels": "\n".join(f"{k}={v}" for k, v in node.labels.items())},
    )
    if request.method == "POST" and form.is_valid():
        try:
            ops.update_node(request.user, node, labels=form.cleaned_data["labels"], zone=form.cleaned_data["zone"])
        except ValidationError as exc:
            refused(form, exc)
        except ops.OperationConflict as exc:  # removed meanwhile: its page is gone, its cluster's is not
            messages.error(request, str(exc))
            return redirect("clusters:detail", pk=node.cluster_id)
        else:
            messages.success(request, _("Node saved."))
            return redirect("clusters:node", pk=node.pk)
    containers = node.containers.visible_to(request.user).select_related("service__application")  # apps' relation
    tasks = NodeTask.objects.visible_to(request.user).filter(node=node)[:8]
    return render(
        request,
        "clusters/node_detail.html",
        {
            "node": node,
            "form": form,
            "containers": containers,
            "tasks": tasks,
            "cluster": node.cluster,
        },
    )


@page(
    post={
        "drain": "cs:RemoveClusterNodes",
        "remove": "cs:RemoveClusterNodes",
        "reset": "cs:ResetClusterNode",
        "renew": rotation.ROTATE,
    },
    verb="change",
)
@require_POST
def node_change(request: HttpRequest, pk: int, change: str) -> HttpResponse:
    node = page_object(request, Node.objects.live().select_related("cluster"), pk=pk)
    if change == "renew":
        try:
            command = attach.renew_command(request.user, node, console_url=request.build_absolute_uri("/"))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("clusters:node", pk=node.pk)
        return render(
            request, "clusters/renew_command.html", {"node": node, "cluster": node.cluster, "command": command}
        )
    try:
        if change == "drain":
            ops.remove_node(request.user, node, drain=True)
            messages.info(request, _("Draining %(node)s: its containers move to other nodes.") % {"node": node.name})
        elif change == "remove":
            ops.remove_node(request.user, node, drain=False)
            messages.info(request, _("Removing %(node)s.") % {"node": node.name})
        elif change == "reset":
            ops.reset_node(request.user, node)
            messages.info(request, _("Removing Berth's containers from %(node)s.") % {"node": node.name})
    except (ValidationError, ops.OperationConflict, Unsatisfiable, host.HostError) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    if not Node.objects.live().filter(pk=node.pk).exists():  # removed meanwhile: its page is gone
        return redirect("clusters:detail", pk=node.cluster_id)
    return redirect("clusters:node", pk=node.pk)


@page(post=certificates.REVOKE)
@require_POST
def certificate_revoke(request: HttpRequest, pk: int, serial: str) -> HttpResponse:
    """Revoke one client certificate of the cluster (recorded and shown; engines honour it only by expiry)."""
    cluster = page_object(request, Cluster.objects.all(), pk=pk)
    found = get_object_or_404(UserCertificate.objects.visible_to(request.user).filter(cluster=cluster), serial=serial)
    certificates.revoke(request.user, found, reason=request.POST.get("reason", "")[:200])
    messages.info(
        request,
        _("Certificate %(serial)s is revoked. Docker engines keep accepting it until it expires (%(when)s).")
        % {"serial": found.serial, "when": found.not_after.strftime("%Y-%m-%d %H:%M UTC")},
    )
    return redirect("clusters:detail", pk=cluster.pk)


@page(
    get="cs:DescribeRegistryCredentials",
    post="cs:CreateRegistryCredential",
    scope={"cs:CreateRegistryCredential": every("cs", "registrycredential")},
)
def registry_credentials(request: HttpRequest) -> HttpResponse:
    """The tenant's registry credentials (never their passwords) and a form to add one."""
    form = RegistryCredentialForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            made = registries.create_credential(request.user, **form.cleaned_data)
        except ValidationError as exc:
            refused(form, exc)
        else:
            messages.success(request, _("Credential for %(registry)s saved.") % {"registry": made.registry})
            return redirect("clusters:registry_credentials")
    listing = page_of(request, RegistryCredential.objects.visible_to(request.user))
    rows = with_resources(list(listing.object_list))
    return render(request, "clusters/registry_credentials.html", {"form": form, "credentials": rows, "page": listing})


@page(post="cs:DeleteRegistryCredential")
@require_POST
def registry_credential_delete(request: HttpRequest, pk: int) -> HttpResponse:
    found = page_object(request, RegistryCredential.objects.all(), pk=pk)
    registries.delete_credential(request.user, found)
    messages.info(request, _("Credential for %(registry)s deleted.") % {"registry": found.registry})
    return redirect("clusters:registry_credentials")
