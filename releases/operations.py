"""Use cases of releases: pausing and resuming a rolling release (one function each, called by pages and the API)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from accounts.permissions import authorize
from apps.models import Release
from apps.releases import ROLLED_KINDS
from console import audit, live
from console.errors import OperationConflict


def set_paused(actor: Any, release: Release, paused: bool) -> Release:
    """Pause a rolling release before its next batch (``paused``), or resume it; the release as it is now.

    Refused: a release that is not an update, rollback or redeploy (400), or one that has finished (409). Every
    answer, refusals included, is in the operation log."""
    authorize(actor, "cs:PauseRelease", release)
    app = release.application
    error = ""
    if release.kind not in ROLLED_KINDS:
        error = _("Only a rolling release (an update, rollback or redeploy) can be paused, not a %(kind)s.") % {
            "kind": release.get_kind_display()
        }
    elif not Release.objects.filter(pk=release.pk, status__in=Release.ACTIVE).update(paused=paused):
        error = _("The release has already finished.")
    audit.record(
        "cs:PauseRelease",
        actor=actor,
        resource=app.resource_name,
        target=f"{app.name} #{release.pk}",
        cluster_id=app.cluster_id,
        parameters={"release": release.pk, "paused": paused},
        outcome=audit.OperationLog.Outcome.FAILURE if error else audit.OperationLog.Outcome.SUCCESS,
        error=error,
    )
    if error and release.kind not in ROLLED_KINDS:
        raise ValidationError({"detail": [error]})
    if error:
        raise OperationConflict(error)
    release.refresh_from_db()
    live.publish("application", app.pk, release.as_live())
    return release
