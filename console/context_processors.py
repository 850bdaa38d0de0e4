"""Template context for every page: the translated names of statuses the live script shows."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _


def live_labels(request: HttpRequest) -> dict[str, Any]:
    """Status words for ``static/js/live.js`` (it has no gettext), only for signed-in pages."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    from apps.models import Application, Release
    from clusters.models import Node, NodeTask

    labels = {
        "pending": _("pending"),
        "created": _("created"),
        "running": _("running"),
        "exited": _("exited"),
        "paused": _("paused"),
        "restarting": _("restarting"),
        "dead": _("dead"),
        "failed": _("failed"),
        "removed": _("removed"),
        "pull:pulling": _("pulling"),
        "pull:done": _("pulled"),
        "pull:failed": _("pull failed"),
    }
    for choices in (Application.Status.choices, Release.Status.choices, Node.State.choices):
        labels.update({str(k): str(v) for k, v in choices})
    labels.update({f"kind:{k}": str(v) for k, v in Release.Kind.choices})
    labels.update({f"kind:{k}": str(v) for k, v in NodeTask.Kind.choices})
    return {"live_labels": labels}
