"""Console pages of the observability layer: the engines' events of a cluster and of an application."""

from __future__ import annotations

import hmac
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from accounts.authentication import AccessKeyInvalid, user_for_access_key
from accounts.pages import page, page_object
from apps.models import Application, Container
from clusters.api import clusters_for
from console.paging import page_of
from observability import events, logs, metrics, terminal
from observability.models import EngineEvent, LogLine

LABELS = {
    "action": _("Event"),
    "q": _("Text"),
    "regex": _("Regular expression"),
    "service": _("Service"),
    "container": _("Container"),
    "node": _("Node"),
    "stream": _("Stream"),
    "since": _("From"),
    "until": _("To"),
}
"""The filter forms' labels of the parameters a refusal names."""


def _listing(request: HttpRequest, rows, context: dict) -> HttpResponse:  # type: ignore[no-untyped-def]
    params = {name: request.GET.get(name, "") for name in events.FILTERS}
    problem = None
    try:
        rows = events.filtered(rows, params)
    except events.Refused as exc:
        problem = f"{LABELS.get(exc.field, exc.field)}: {exc}"
        rows = rows.none()
    listing = page_of(request, rows.select_related("application"))
    return render(
        request,
        "observability/events.html",
        {
            **context,
            "events": list(listing.object_list),
            "page": listing,
            "filters": params,
            "problem": problem,
            "actions": EngineEvent.Action.choices,
        },
        status=400 if problem else 200,
    )


@page(get="cs:DescribeClusters", also=("cs:DescribeApplications",))
def cluster_events(request: HttpRequest, pk: int) -> HttpResponse:
    """The engines' events of the cluster's applications the user may see, newest first, filtered, live."""
    cluster = page_object(request, clusters_for(request.user), pk=pk)
    visible = Application.objects.visible_to(request.user).filter(cluster=cluster)
    rows = EngineEvent.objects.filter(cluster=cluster, application__in=visible)
    return _listing(request, rows, {"cluster": cluster, "app": None, "live_type": "cluster", "live_id": cluster.pk})


@page(get="cs:DescribeApplications")
def application_events(request: HttpRequest, pk: int) -> HttpResponse:
    """The engines' events of one application's containers, newest first, filtered, live."""
    app = page_object(request, Application.objects.live().select_related("cluster"), pk=pk)
    rows = EngineEvent.objects.filter(application=app)
    return _listing(request, rows, {"cluster": app.cluster, "app": app, "live_type": "application", "live_id": app.pk})


@page(get="cs:ExecContainer")
def container_terminal(request: HttpRequest, pk: int, container: str) -> HttpResponse:
    """A shell in one running container, in the browser (xterm.js over ``/ws/terminal/…``)."""
    app = page_object(request, Application.objects.live().select_related("cluster"), pk=pk)
    row = page_object(
        request, Container.objects.select_related("node", "service"), service__application=app, name=container
    )
    return render(
        request,
        "observability/terminal.html",
        {"app": app, "row": row, "idle": int(terminal.idle_seconds()), "running": row.state == "running"},
    )


LOG_PAGE = 100


@page(get="cs:DescribeApplications")
def application_logs(request: HttpRequest, pk: int) -> HttpResponse:
    """An application's output: the live tail (all containers, or one) and a search of what was collected."""
    app = page_object(request, Application.objects.live().select_related("cluster"), pk=pk)
    params = {name: request.GET.get(name, "") for name in logs.FILTERS}
    searching = any(params.values()) or "page" in request.GET
    problem, listing = None, None
    if searching:
        try:
            rows = logs.filtered(LogLine.objects.filter(application=app), params)
            listing = page_of(request, rows, LOG_PAGE)
        except logs.Refused as exc:
            problem = f"{LABELS.get(exc.field, exc.field)}: {exc}"
    containers = list(
        Container.objects.filter(service__application=app)
        .order_by("service__name", "index")
        .values_list("name", flat=True)
    )
    days, megabytes = logs.retention_of(app.tenant_id)
    return render(
        request,
        "observability/logs.html",
        {
            "app": app,
            "filters": params,
            "problem": problem,
            "page": listing,
            "lines": list(listing.object_list) if listing else [],
            "searching": searching,
            "containers": containers,
            "only": request.GET.get("tail", ""),
            "query": request.GET.urlencode(),
            "retention": {"days": days, "megabytes": megabytes},
            "collecting": logs.collecting(app.cluster_id),
        },
        status=400 if problem else 200,
    )


def scrape_token() -> str:
    """The operator's scrape token: ``BERTH_METRICS_TOKEN``, else the one scripts/prometheus.sh wrote to the data
    directory (``metrics-token``); empty: none (only access keys scrape)."""
    if settings.BERTH_METRICS_TOKEN:
        return settings.BERTH_METRICS_TOKEN
    path = Path(settings.DATA_DIR) / "metrics-token"
    return path.read_text().strip() if path.exists() else ""


UNAUTHORIZED = (
    "Scrape /metrics with the scrape token (Authorization: Bearer <token>, BERTH_METRICS_TOKEN or var/metrics-token) "
    "or an access key (Authorization: Bearer <AccessKeyId>:<AccessKeySecret>): it then shows that account's "
    "containers and nodes only.\n"
)


@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """``/metrics``: the containers' and nodes' figures in Prometheus' text format. The scrape token sees every
    tenant's and Berth's own health figures; an access key its tenant's containers it may see and its nodes."""
    header = request.headers.get("Authorization", "")
    token = scrape_token()
    given = header.partition(" ")[2].strip() if header.startswith("Bearer ") else ""
    operator = bool(token and given and hmac.compare_digest(given.encode(), token.encode()))
    found = None
    if not operator:
        try:
            found = user_for_access_key(header) if given and ":" in given else None
        except AccessKeyInvalid as exc:
            return HttpResponse(
                f"{exc}\n", status=401, content_type="text/plain", headers={"WWW-Authenticate": "Bearer"}
            )
        if found is None:
            return HttpResponse(
                UNAUTHORIZED, status=401, content_type="text/plain", headers={"WWW-Authenticate": "Bearer"}
            )
    try:
        entries = metrics.read_store()
    except Exception:  # noqa: BLE001 - Redis away
        return HttpResponse("Berth's metrics store (Redis) does not answer.\n", status=503, content_type="text/plain")
    if operator:
        text = metrics.exposition(entries, metrics.health_figures())
    else:
        user = found[0] if found is not None else None  # an access key's user (the operator's token is the other way)
        apps = set(Application.objects.visible_to(user).values_list("pk", flat=True))
        clusters = set(clusters_for(user).values_list("pk", flat=True))
        mine = [
            e
            for e in entries
            if e.get("tenant_id") == user.tenant_id
            and (e.get("application_id") in apps if e.get("kind") == "container" else e.get("cluster_id") in clusters)
        ]
        text = metrics.exposition(mine)
    return HttpResponse(text, content_type="text/plain; version=0.0.4; charset=utf-8")
