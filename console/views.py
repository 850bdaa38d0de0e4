"""Console pages that cut across apps: the dashboard and the operation log."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from apps.models import Application, Container
from clusters.models import Cluster, Node
from console.models import OperationLog


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for scripts: answers once the ASGI server serves Django."""
    return JsonResponse({"status": "ok"})


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    clusters = Cluster.objects.visible_to(user).annotate(
        nodes_total=Count("nodes", distinct=True),
        nodes_ready=Count("nodes", filter=Q(nodes__state=Node.State.READY), distinct=True),
    )
    apps = Application.objects.visible_to(user).filter(deleted_at__isnull=True)
    containers = Container.objects.visible_to(user)
    context = {
        "clusters": clusters,
        "app_count": apps.count(),
        "containers_running": containers.filter(state="running").count(),
        "containers_total": containers.count(),
        "recent": OperationLog.objects.visible_to(user)[:8],
    }
    return render(request, "console/dashboard.html", context)


@login_required
def operation_logs(request: HttpRequest) -> HttpResponse:
    """The tenant's operation log, newest first, filtered by action, outcome and free text."""
    entries = OperationLog.objects.visible_to(request.user).select_related("actor")
    action = request.GET.get("action", "").strip()
    outcome = request.GET.get("outcome", "").strip()
    text = request.GET.get("q", "").strip()
    if action:
        entries = entries.filter(action__icontains=action)
    if outcome:
        entries = entries.filter(outcome=outcome)
    if text:
        entries = entries.filter(
            Q(target__icontains=text)
            | Q(resource__icontains=text)
            | Q(actor_name__icontains=text)
            | Q(error__icontains=text)
            | Q(request_id=text)
        )
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    template = (
        "console/_operation_log_table.html" if request.headers.get("HX-Request") else "console/operation_logs.html"
    )
    return render(
        request,
        template,
        {
            "page": page,
            "outcomes": OperationLog.Outcome.choices,
            "filters": {"action": action, "outcome": outcome, "q": text},
        },
    )
