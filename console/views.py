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
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from apps.models import Application, Container
from clusters.models import Cluster, Node
from console.models import OperationLog
from console.pages import page


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for scripts: answers once the ASGI server serves Django."""
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


FILTERS = ("since", "until", "actor", "action", "resource", "outcome", "q")
TIME_FILTERS = ("since", "until")
LABELS = {"since": _lazy("From"), "until": _lazy("To")}


def bad_filters(params: Any) -> dict[str, str]:
    """The time filters whose value is not a date and time, each with what was typed (the page says so; they are
    not applied)."""
    bad = {}
    for name in TIME_FILTERS:
        typed = str(params.get(name, "")).strip()[:200]
        if typed and parse_datetime(typed) is None:
            bad[name] = typed
    return bad


def filter_entries(entries: QuerySet[OperationLog], params: Any) -> tuple[QuerySet[OperationLog], dict[str, str]]:
    """Apply the operation-log filters (time range, actor, action, resource, outcome, free text)."""
    values = {name: str(params.get(name, "")).strip()[:200] for name in FILTERS}
    for name, lookup in (("since", "created_at__gte"), ("until", "created_at__lte")):
        if values[name]:
            moment = parse_datetime(values[name])
            if moment is None:
                values[name] = ""
                continue
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
            entries = entries.filter(**{lookup: moment})
    if values["actor"]:
        entries = entries.filter(actor_name__icontains=values["actor"])
    if values["action"]:
        entries = entries.filter(action__icontains=values["action"])
    if values["resource"]:
        entries = entries.filter(resource__icontains=values["resource"])
    if values["outcome"]:
        entries = entries.filter(outcome=values["outcome"])
    if values["q"]:
        text = values["q"]
        entries = entries.filter(
            Q(target__icontains=text)
            | Q(resource__icontains=text)
            | Q(actor_name__icontains=text)
            | Q(error__icontains=text)
            | Q(request_id=text)
            | Q(source_ip=text)
            | Q(action__icontains=text)
        )
    return entries, values


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
        data = [{**row, "created_at": row["created_at"].isoformat()} for row in rows]
        response = HttpResponse(json.dumps(data, indent=1), content_type="application/json")
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
        writer.writeheader()
        for row in rows:
            cells = {**row, "parameters": json.dumps(row["parameters"], sort_keys=True)}
            writer.writerow({key: spreadsheet_safe(value) for key, value in cells.items()})
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="operation-log-{stamp}.{fmt}"'
    return response


@page(get="cs:DescribeOperationLogs")
def operation_logs(request: HttpRequest) -> HttpResponse:
    """The tenant's operation log, newest first, filtered; exported as CSV or JSON with ``?export=csv|json``."""
    entries, values = filter_entries(OperationLog.objects.visible_to(request.user), request.GET)
    fmt = request.GET.get("export")
    if fmt in ("csv", "json"):
        return export(entries, fmt)
    page_obj = Paginator(entries, 50).get_page(request.GET.get("page"))
    query = urlencode({k: v for k, v in values.items() if v})
    template = (
        "console/_operation_log_table.html" if request.headers.get("HX-Request") else "console/operation_logs.html"
    )
    bad = bad_filters(request.GET)
    invalid = [
        _("“%(value)s” is not a date and time (for example 2025-01-31 14:00); “%(name)s” is not applied.")
        % {"value": typed, "name": LABELS[name]}
        for name, typed in bad.items()
    ]
    return render(
        request,
        template,
        {
            "page": page_obj,
            "outcomes": OperationLog.Outcome.choices,
            "filters": {**values, **bad},  # what was typed stays in its box
            "query": query,
            "filtered": any(values.values()),
            "invalid": invalid,
        },
    )
