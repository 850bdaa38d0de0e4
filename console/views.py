"""Console pages that cut across apps: the dashboard and the operation log."""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from accounts.pages import page
from apps.models import Application, Container
from clusters.models import Cluster, Node
from console import log_filters
from console.models import OperationLog
from console.times import iso_utc


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for scripts: answers ``GET``/``HEAD`` once the ASGI server serves Django (another method is 405)."""
    return JsonResponse({"status": "ok"})


@page(get="cs:DescribeClusters", also=("cs:DescribeApplications", "cs:DescribeOperationLogs"))
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


EXPORT_FIELDS = [
    "id",
    "created_at",
    "actor_name",
    "actor_kind",
    "source",
    "source_ip",
    "user_agent",
    "request_id",
    "action",
    "resource",
    "target",
    "cluster_id",
    "parameters",
    "outcome",
    "error",
    "duration_ms",
    "hash",
]
EXPORT_LIMIT = 100_000
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): such cells get a
# leading apostrophe, which spreadsheets show as text and hide.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def spreadsheet_safe(value: Any) -> Any:
    """``value`` as a CSV cell that no spreadsheet evaluates (text starting with a formula sign is quoted)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export(entries: QuerySet[OperationLog], fmt: str) -> HttpResponse:
    """The filtered entries as a CSV or JSON download (newest first, at most EXPORT_LIMIT rows)."""
    rows = entries.values(*EXPORT_FIELDS)[:EXPORT_LIMIT]
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    if fmt == "json":
        data = [{**row, "created_at": iso_utc(row["created_at"])} for row in rows]
        response = HttpResponse(json.dumps(data, indent=1), content_type="application/json")
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
        writer.writeheader()
        for row in rows:
            cells = {**row, "created_at": iso_utc(row["created_at"])}  # as the JSON export and the API write it
            cells["parameters"] = json.dumps(row["parameters"], sort_keys=True)
            writer.writerow({key: spreadsheet_safe(value) for key, value in cells.items()})
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="operation-log-{stamp}.{fmt}"'
    return response


@page(get="cs:DescribeOperationLogs")
def operation_logs(request: HttpRequest) -> HttpResponse:
    """The tenant's operation log, newest first, filtered; exported as CSV or JSON with ``?export=csv|json``. A
    filter whose value cannot be applied (``log_filters.problems``) is left out, and the page says so."""
    entries, values = log_filters.filter_entries(OperationLog.objects.visible_to(request.user), request.GET)
    bad = {name: reason for name, reason in log_filters.problems(request.GET).items() if name in log_filters.LABELS}
    fmt = request.GET.get("export")
    if fmt in log_filters.EXPORT_FORMATS:
        return export(entries, fmt)
    page_obj = Paginator(entries, 50).get_page(request.GET.get("page"))
    query = urlencode({k: v for k, v in values.items() if v})
    template = (
        "console/_operation_log_table.html" if request.headers.get("HX-Request") else "console/operation_logs.html"
    )
    invalid = [
        _("%(reason)s; “%(name)s” is not applied.") % {"reason": reason, "name": log_filters.LABELS[name]}
        for name, reason in bad.items()
    ]
    return render(
        request,
        template,
        {
            "page": page_obj,
            "outcomes": OperationLog.Outcome.choices,
            "filters": {**values, **{name: log_filters.typed(request.GET, name) for name in bad}},  # stays in its box
            "query": query,
            "exports": log_filters.export_links(values),
            "filtered": any(values.values()),
            "invalid": invalid,
        },
    )
