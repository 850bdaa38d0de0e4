"""Template tags of the routing service for the pages of the layers below (they never import it): an
application's addresses."""

from __future__ import annotations

from typing import Any

from django import template

from routing import api, sync, tls
from routing.models import Route

register = template.Library()


@register.simple_tag
def addresses_of(app: Any) -> list[dict[str, Any]]:
    """The application's routes as links: address, service, and whether the routers serve them now."""
    if app.deleted_at is not None or app.status in sync.GONE:  # its routes are gone from the routers
        return []
    rows = list(Route.objects.filter(application_id=app.pk).select_related("service"))
    if not rows:
        return []
    cluster = app.cluster
    options, serving = sync.settings_of(cluster), sync.enabled(cluster)
    served = tls.served_by(cluster) if options.https_port and any(route.https for route in rows) else []
    return [
        {
            "address": api.opened_at(route, options.port, options.https_port, served),
            "service": route.service.name,
            "serving": serving,
        }
        for route in rows
    ]
