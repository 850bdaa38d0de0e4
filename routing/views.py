"""Console pages of the routing service: a cluster's routing page (the service on or off, its ports, each node's
router, every route with its backends, health, weight, redirect and traffic) and the tenant's certificates."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts.pages import every, page, page_object, with_resources
from accounts.permissions import may
from apps.models import Application
from clusters.models import Cluster
from console.forms import refused
from console.paging import page_of
from routing import api, certificates, operations, sync, tls
from routing.forms import CertificateForm
from routing.models import Certificate, Listener, Route, Router
from routing.routes import root_of


@page(get="cs:DescribeRoutes")
def routing_page(request: HttpRequest, pk: int) -> HttpResponse:
    cluster = page_object(request, Cluster.objects.all(), pk=pk)
    options = sync.settings_of(cluster)
    routes = Route.objects.visible_to(request.user).filter(cluster=cluster, application__deleted_at__isnull=True)
    listeners = Listener.objects.visible_to(request.user).filter(cluster=cluster, application__deleted_at__isnull=True)
    only = request.GET.get("application", "")[:63]
    if only:  # one application's routes and listeners
        routes, listeners = routes.filter(application__name=only), listeners.filter(application__name=only)
    listing = page_of(request, routes.select_related("application", "service"))
    fronts = list(listeners.select_related("application", "service")[:200])
    # One reading of the routers, containers and certificates for both tables (the API's shapes).
    context = api.route_context(cluster, [*listing.object_list, *fronts], request.user)
    rows = list(api.RouteSerializer(listing.object_list, many=True, context=context).data)
    weighable = {
        app.pk
        for app in Application.objects.visible_to(request.user, "cs:ModifyRoute").filter(
            pk__in={r.application_id for r in listing.object_list}
        )
    }
    for row, route in zip(rows, listing.object_list, strict=True):
        row["may_weigh"] = route.application_id in weighable
        row["application_id"] = route.application_id
    listeners = list(api.ListenerSerializer(fronts, many=True, context=context).data)
    for row, listener in zip(listeners, fronts, strict=True):
        row["application_id"] = listener.application_id
    return render(
        request,
        "routing/routing.html",
        {
            "cluster": cluster,
            "options": options,
            "enabled": bool((cluster.system_services or {}).get("routing")),
            "overlay": cluster.network_mode == Cluster.NetworkMode.OVERLAY,
            "root_domain": root_of(cluster),
            "routers": Router.objects.filter(cluster=cluster).select_related("node"),
            "only": only,
            "only_found": bool(only)
            and Application.objects.visible_to(request.user).filter(cluster=cluster, name=only).exists(),
            "routes": rows,
            "listeners": listeners,
            "page": listing,
            "may_configure": may(request.user, "cs:ModifyRouting", cluster.resource_name),
            "served": len(context["certificates"]) if options.https_port else 0,
        },
    )


@page(
    post={"settings": "cs:ModifyRouting", "weight": "cs:ModifyRoute", "redirect": "cs:ModifyRoute"},
    verb="change",
    also=("cs:DescribeRoutes",),
)
@require_POST
def routing_change(request: HttpRequest, pk: int, change: str) -> HttpResponse:
    if change == "settings":
        cluster = page_object(request, Cluster.objects.all(), pk=pk)
        data: dict[str, Any] = {"enabled": request.POST.get("enabled") == "on"}
        data["http_port"] = request.POST.get("http_port") == "on"
        data["https_port"] = request.POST.get("https_port") == "on"
        port = request.POST.get("port", "").strip()
        if port:
            data["port"] = int(port) if port.isdigit() else port
        was_on = bool((cluster.system_services or {}).get("routing"))
        try:
            operations.configure(request.user, cluster, data)
        except ValidationError as exc:
            messages.error(request, " ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()))
        else:
            if not data["enabled"]:
                said = _("Routing is off.")
            elif was_on:
                said = _("Routing settings saved: the routers take them now.")
            else:
                said = _("Routing is on: a router starts on every ready node.")
            messages.success(request, said)
        return redirect("routing:page", pk=cluster.pk)
    cluster = page_object(request, Cluster.objects.all(), pk=pk, action="cs:DescribeRoutes")
    route = get_object_or_404(
        Route.objects.visible_to(request.user).filter(cluster=cluster).select_related("application", "service"),
        pk=request.POST.get("route") if str(request.POST.get("route", "")).isdigit() else 0,
    )
    if change == "redirect":
        data: dict[str, Any] = {"redirect_https": request.POST.get("redirect_https") == "on"}
    else:
        weight = request.POST.get("weight", "").strip()
        data = {"weight": int(weight) if weight.isdigit() else weight}
    try:
        operations.modify_route(request.user, route, data)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        values = {"service": route.service.name, "weight": route.weight, "route": str(route)}
        if change == "redirect":
            said = (
                _("http requests for %(route)s go to https.") if route.redirect_https else _("%(route)s answers http.")
            )
        else:
            said = _("%(service)s gets weight %(weight)s on %(route)s.")
        messages.success(request, said % values)
    return redirect("routing:page", pk=cluster.pk)


@page(
    get="cs:DescribeCertificates",
    post="cs:UploadCertificate",
    scope={"cs:UploadCertificate": every("cs", "certificate")},
)
@sensitive_post_parameters("key", "certificate")
def certificates_page(request: HttpRequest) -> HttpResponse:
    """The tenant's web certificates (names and expiry, never keys) and a form to upload one."""
    form = CertificateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            made = certificates.upload(request.user, **form.cleaned_data)
        except ValidationError as exc:
            refused(form, exc)
        else:
            messages.success(
                request,
                _("Certificate %(name)s saved: %(names)s.") % {"name": made.name, "names": ", ".join(made.names)},
            )
            return redirect("certificates:list")
    listing = page_of(request, Certificate.objects.visible_to(request.user))
    rows = with_resources(list(listing.object_list))
    now = timezone.now()
    for row in rows:
        row.expiring, row.expired = tls.expiring(row, now), row.not_after <= now
    return render(request, "routing/certificates.html", {"form": form, "certificates": rows, "page": listing})


@page(post="cs:DeleteCertificate")
@require_POST
def certificate_delete(request: HttpRequest, pk: int) -> HttpResponse:
    found = page_object(request, Certificate.objects.all(), pk=pk)
    certificates.delete(request.user, found)
    messages.info(request, _("Certificate %(name)s deleted.") % {"name": found.name})
    return redirect("certificates:list")
