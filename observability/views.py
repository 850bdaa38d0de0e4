"""Console pages of the observability layer: the engines' events of a cluster and of an application."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.pages import page, page_object
from apps.models import Application, Container
from clusters.api import clusters_for
from console.paging import page_of
from observability import events, terminal
from observability.models import EngineEvent


def _listing(request: HttpRequest, rows, context: dict) -> HttpResponse:  # type: ignore[no-untyped-def]
    params = {name: request.GET.get(name, "") for name in events.FILTERS}
    problem = None
    try:
        rows = events.filtered(rows, params)
    except events.Refused as exc:
        problem = f"{exc.field}: {exc}"
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
