"""Console pages of applications."""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.pages import page, page_object
from apps import operations, stacks
from apps.disclosure import Disclosure
from apps.forms import ImageApplicationForm, UpdateForm
from apps.models import Application, Container, Release, Service, side_by_side_of
from apps.releases import ROLLED_KINDS
from apps.scheduler import PlacementError
from clusters import docker_host as host
from clusters.models import Cluster
from console.forms import refused
from console.paging import page_of


@page(get="cs:DescribeApplications")
def application_list(request: HttpRequest) -> HttpResponse:
    listing = page_of(
        request,
        Application.objects.visible_to(request.user)
        .filter(deleted_at__isnull=True)
        .select_related("cluster", "config_set")
        .prefetch_related("services__containers"),
    )
    apps = list(listing.object_list)
    shown = Disclosure.of(request.user, apps)
    for app in apps:
        _shown_images(shown, app, app.services.all())
    return render(request, "apps/application_list.html", {"applications": apps, "page": listing})


def _deploy_targets(user: object) -> QuerySet[Cluster]:
    """The clusters where the user may create an application."""
    return Cluster.objects.visible_to(user, "cs:CreateApplication")


def _shown_images(shown: Disclosure, app: Application, services: Iterable[Service]) -> None:
    """Give each service the image references the user may read (``shown_image``, ``shown_pinned``: a secret
    interpolated into them masked, apps.disclosure)."""
    for service in services:
        service.shown_image = shown.text(app.pk, service.image)
        service.shown_pinned = shown.text(app.pk, service.pinned_image)


@page(
    get="cs:CreateApplication",
    post="cs:CreateApplication",
    scope={"cs:CreateApplication": Cluster.objects.all()},
)
def application_create(request: HttpRequest) -> HttpResponse:
    """Create an application from one image: the form, then the plan (where its containers go, which nodes pull
    the image; an image no node has and no registry gives is refused here), then create on confirm."""
    if not _deploy_targets(request.user).exists():  # nothing to deploy to: say so rather than show a dead form
        seen = Cluster.objects.visible_to(request.user).exists()
        return render(request, "apps/application_form.html", {"form": None, "clusters_seen": seen})
    form = ImageApplicationForm(request.user, request.POST or None, initial={"cluster": request.GET.get("cluster")})
    plan = None
    if request.method == "POST" and form.is_valid():
        confirm = request.POST.get("confirm") == "1"
        try:
            result = operations.deploy_application(
                request.user, form.cleaned_data["cluster"], form.spec(), dry_run=not confirm
            )
            if confirm:
                return redirect("apps:detail", pk=result.application_id)
            plan = result
        except ValidationError as exc:
            plan = None
            refused(form, exc)
    return render(request, "apps/application_form.html", {"form": form, "plan": plan})


@page(get="cs:DescribeApplications")
def application_detail(request: HttpRequest, pk: int) -> HttpResponse:
    app = page_object(request, Application.objects.live().select_related("cluster"), pk=pk)
    containers = list(Container.objects.filter(service__application=app).select_related("node", "service"))
    for container in containers:
        container.shown_address = container.as_live()["address"]
    releases = Release.objects.filter(application=app).order_by("-id")[:10]
    versions = app.versions.order_by("-number")[:10]
    services = list(app.services.all())
    _shown_images(Disclosure.of(request.user, [app]), app, services)
    return render(
        request,
        "apps/application_detail.html",
        {
            "app": app,
            "containers": containers,
            "releases": releases,
            "latest": releases[0] if releases else None,
            "latest_id": releases[0].pk if releases else 0,
            "sbs": releases[0].side_by_side() if releases else side_by_side_of({}),
            "services": services,
            "versions": versions,
            "stoppable": STOPPABLE,
            "rolled_kinds": sorted(ROLLED_KINDS),
            "active_states": sorted(Release.ACTIVE),
        },
    )


STOPPABLE = ("running", "restarting", "paused")
"""Container states in which Stop means something (the page hides it for the others, live too)."""


ACTIONS = {
    "start": (operations.start_application, _("Starting %(app)s.")),
    "stop": (operations.stop_application, _("Stopping %(app)s.")),
    "restart": (operations.restart_application, _("Restarting %(app)s.")),
    "kill": (operations.kill_application, _("Killing %(app)s.")),
    "redeploy": (operations.redeploy_application, _("Redeploying %(app)s.")),
    "delete": (operations.delete_application, _("Deleting %(app)s.")),
}


@page(
    post={
        "start": "cs:StartApplication",
        "stop": "cs:StopApplication",
        "restart": "cs:RestartApplication",
        "kill": "cs:KillApplication",
        "redeploy": "cs:RedeployApplication",
        "delete": "cs:DeleteApplication",
    },
    verb="action",
)
@require_POST
def application_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    app = page_object(request, Application.objects.live(), pk=pk)
    if action not in ACTIONS:
        return HttpResponse(status=404)
    fn, note = ACTIONS[action]
    try:
        if action == "delete" and request.POST.get("volumes") == "remove":
            operations.delete_application_with(request.user, app, remove_volumes=True)
        else:
            fn(request.user, app)
    except (ValidationError, operations.OperationConflict) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.info(request, note % {"app": app.name})
    return redirect("apps:detail", pk=app.pk)


@page(post={"scale": "cs:ScaleService", "rollback": "cs:RollbackApplication"}, verb="change")
@require_POST
def application_change(request: HttpRequest, pk: int, change: str) -> HttpResponse:
    """Scale one service, or roll back to a version: the rollback's plan first, applied on confirm."""
    app = page_object(request, Application.objects.live().select_related("cluster"), pk=pk)
    try:
        if change == "scale":
            operations.scale_service(
                request.user, app, request.POST.get("service", ""), int(request.POST.get("scale", "-1"))
            )
        elif change == "rollback":
            number = int(request.POST.get("version", "0")) or None
            if request.POST.get("confirm") != "1":
                plan = operations.rollback_application(request.user, app, number, dry_run=True)
                return render(request, "apps/application_rollback.html", {"app": app, "plan": plan, "version": number})
            operations.rollback_application(request.user, app, number)
        else:
            return HttpResponse(status=404)
    except PlacementError as exc:
        messages.error(request, str(exc))
    except (ValidationError, ValueError, operations.OperationConflict) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    return redirect("apps:detail", pk=app.pk)


@page(get="cs:DescribeApplications")
def container_detail(request: HttpRequest, pk: int, container: str) -> HttpResponse:
    """One container: state, node, recent logs and ``docker inspect`` (quick reads), shown as apps.disclosure allows."""
    app = page_object(request, Application.objects.live().select_related("cluster"), pk=pk)
    row = page_object(
        request, Container.objects.select_related("node", "service"), service__application=app, name=container
    )
    shown = Disclosure.of(request.user, [app])
    logs, inspect, problem = "", "", ""
    if row.docker_id:
        try:
            endpoint = host.Endpoint.of(row.node, timeout=5)
            logs = host.container_logs(endpoint, row.docker_id, 300)
            found = shown.inspect(app.pk, host.inspect_container(endpoint, row.docker_id))
            inspect = json.dumps(found, indent=2, default=str, ensure_ascii=False)  # "…" as itself, not \\u2026
        except host.HostError as exc:
            problem = str(exc)
    return render(
        request,
        "apps/container_detail.html",
        {
            "app": app,
            "row": row,
            "logs": logs,
            "inspect": inspect,
            "problem": problem,
            "values_hidden": not shown.may_change(app.pk),
        },
    )


@page(
    post={"restart": "cs:RestartContainer", "stop": "cs:StopContainer", "remove": "cs:RemoveContainer"},
    verb="change",
)
@require_POST
def container_change(request: HttpRequest, pk: int, container: str, change: str) -> HttpResponse:
    app = page_object(request, Application.objects.live(), pk=pk)
    try:
        operations.container_action(request.user, app, container, change)
    except (ValidationError, operations.OperationConflict) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.info(request, _("%(name)s: %(change)s requested.") % {"name": container, "change": change})
    return redirect("apps:detail", pk=app.pk)


@page(get="cs:UpdateApplication", post="cs:UpdateApplication")
def application_update(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a Compose application's template text or variables: plan first, apply on confirm."""
    app = page_object(request, Application.objects.live().select_related("cluster"), pk=pk)
    current = app.versions.order_by("-number").first()
    if current is None:
        messages.error(request, _("This application was made from an image; it has no template to change."))
        return redirect("apps:detail", pk=app.pk)
    values = stacks.version_variables(current)

    form = UpdateForm(
        request.POST or None,
        initial={"compose": current.compose, "variables": "\n".join(f"{k}={v}" for k, v in values.items())},
    )
    plan = None
    if request.method == "POST" and form.is_valid():
        try:
            variables = operations.parse_environment(form.cleaned_data["variables"])
            confirm = request.POST.get("confirm") == "1"
            result = operations.update_application(
                request.user,
                app,
                compose=form.cleaned_data["compose"],
                variables=variables,
                dry_run=not confirm,
                strategy=form.cleaned_data["strategy"] or "rolling",
                canary=form.canary(),
            )
        except ValidationError as exc:
            refused(form, exc)
        except (PlacementError, operations.OperationConflict) as exc:
            form.add_error(None, str(exc))
        else:
            if confirm:
                return redirect("apps:detail", pk=app.pk)
            plan = result
    return render(request, "apps/application_update.html", {"app": app, "form": form, "plan": plan})
