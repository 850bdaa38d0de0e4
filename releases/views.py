"""Release pages' controls: pause, resume or abort the application's running release from its page."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.pages import page, page_object
from apps import operations as app_operations
from apps.models import Release
from console.errors import OperationConflict
from releases import operations

SAID = {
    "weight": gettext_lazy("The traffic is shifting: %(weight)s%% to the new version."),
    "confirm": gettext_lazy("Confirmed: the old version is being removed."),
    "rollback": gettext_lazy("Rolling back: the new version is being removed."),
    "pause": gettext_lazy("The release pauses before its next batch."),
    "resume": gettext_lazy("The release goes on."),
    "cancel": gettext_lazy("The release stops at its next checkpoint; a batch in progress is undone."),
}


@page(
    post={
        "pause": "cs:ControlRelease",
        "resume": "cs:ControlRelease",
        "weight": "cs:ControlRelease",
        "confirm": "cs:ControlRelease",
        "rollback": "cs:ControlRelease",
        "cancel": "cs:CancelRelease",
    },
    verb="control",
)
@require_POST
def release_control(request: HttpRequest, pk: int, release_id: int, control: str) -> HttpResponse:
    """Pause, resume or abort (cancel) a release of application ``pk``; shift a blue-green release's traffic, confirm
    it or roll it back; back to the application's page."""
    rows = Release.objects.filter(application_id=pk, application__deleted_at__isnull=True)
    release = page_object(request, rows.select_related("application", "application__cluster"), pk=release_id)
    try:
        if control == "cancel":
            if not app_operations.request_cancel(request.user, release):
                raise OperationConflict(_("The release has already finished."))
        elif control in ("pause", "resume"):
            operations.set_paused(request.user, release, control == "pause")
        elif control == "weight":
            raw = request.POST.get("weight", "")
            operations.set_weight(request.user, release, int(raw) if raw.strip().isdigit() else raw)
        elif control in ("confirm", "rollback"):
            operations.decide(request.user, release, control)
        else:
            raise Http404
    except (ValidationError, OperationConflict) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.info(request, str(SAID[control]) % {"weight": request.POST.get("weight", "")})
    return redirect("apps:detail", pk=pk)
