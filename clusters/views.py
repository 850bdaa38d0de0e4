"""Console pages of clusters and nodes."""

from __future__ import annotations

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from apps.models import Application
from clusters.models import Cluster, Node
from console.pages import page


@page("cs:DescribeClusters")
def cluster_list(request: HttpRequest) -> HttpResponse:
    clusters = Cluster.objects.visible_to(request.user).annotate(
        nodes_total=Count("nodes", distinct=True),
        nodes_ready=Count("nodes", filter=Q(nodes__state=Node.State.READY), distinct=True),
        apps=Count("applications", filter=Q(applications__deleted_at__isnull=True), distinct=True),
    )
    return render(request, "clusters/cluster_list.html", {"clusters": clusters})


@page("cs:DescribeClusters", "cs:DescribeClusterNodes", "cs:DescribeApplications")
def cluster_detail(request: HttpRequest, pk: int) -> HttpResponse:
    cluster = get_object_or_404(Cluster.objects.visible_to(request.user), pk=pk)
    nodes = Node.objects.visible_to(request.user).filter(cluster=cluster).annotate(n_containers=Count("containers"))
    apps = Application.objects.visible_to(request.user).filter(cluster=cluster, deleted_at__isnull=True)
    return render(request, "clusters/cluster_detail.html", {"cluster": cluster, "nodes": nodes, "applications": apps})


@page("cs:DescribeClusterNodes")
def node_list(request: HttpRequest) -> HttpResponse:
    nodes = Node.objects.visible_to(request.user).select_related("cluster").annotate(n_containers=Count("containers"))
    return render(request, "clusters/node_list.html", {"nodes": nodes})
