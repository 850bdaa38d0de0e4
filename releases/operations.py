"""Use cases of releases (one function each, called by pages and the API): pausing and resuming a rolling release;
shifting a blue-green release's traffic, confirming it or rolling it back."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from accounts.permissions import authorize
from apps.models import Release
from apps.releases import ROLLED_KINDS
from console import audit, live
from console.errors import OperationConflict
from releases import sidebyside


def set_paused(actor: Any, release: Release, paused: bool) -> Release:
    """Pause a rolling release before its next batch (``paused``), or resume it; the release as it is now.

    Refused: a release that is not an update, rollback or redeploy (400), or one that has finished (409). Every
    answer, refusals included, is in the operation log."""
    authorize(actor, "cs:ControlRelease", release)
    app = release.application
    error = ""
    if release.kind in ROLLED_KINDS and (release.params or {}).get("strategy", "rolling") != "rolling":
        error = _("A blue-green or canary release is not paused: shift its weight, confirm it or roll it back.")
        _record(actor, release, {"paused": paused}, error)
        raise ValidationError({"detail": [error]})
    if release.kind not in ROLLED_KINDS:
        error = _("Only a rolling release (an update, rollback or redeploy) can be paused, not a %(kind)s.") % {
            "kind": release.get_kind_display()
        }
    elif not Release.objects.filter(pk=release.pk, status__in=Release.ACTIVE).update(paused=paused):
        error = _("The release has already finished.")
    audit.record(
        "cs:ControlRelease",
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


def _record(actor: Any, release: Release, parameters: dict[str, Any], error: str) -> None:
    app = release.application
    audit.record(
        "cs:ControlRelease",
        actor=actor,
        resource=app.resource_name,
        target=f"{app.name} #{release.pk}",
        cluster_id=app.cluster_id,
        parameters={"release": release.pk, **parameters},
        outcome=audit.OperationLog.Outcome.FAILURE if error else audit.OperationLog.Outcome.SUCCESS,
        error=error,
    )


def _side_by_side(actor: Any, release: Release, what: dict[str, Any], *, blue_green_only: bool) -> None:
    """Refuse (and record the refusal) unless ``release`` is a running blue-green release whose new version runs
    (``blue_green_only``), or a running blue-green or canary one."""
    authorize(actor, "cs:ControlRelease", release)
    strategy = (release.params or {}).get("strategy", "rolling")
    allowed = ("blue-green",) if blue_green_only else ("blue-green", "canary")
    error, conflict = "", False
    if strategy not in allowed:
        kinds = _("a blue-green release") if blue_green_only else _("a blue-green or canary release")
        error = _("Only %(kinds)s can do this; release #%(id)s is %(what)s.") % {
            "kinds": kinds,
            "id": release.pk,
            "what": _("a canary (it moves its own weight)")
            if strategy == "canary"
            else _("a %(s)s %(k)s") % {"s": strategy, "k": release.get_kind_display()},
        }
    elif release.status not in Release.ACTIVE:
        error, conflict = _("The release has already finished."), True
    elif release.decision:
        error, conflict = _("The release is already being ended (%(d)s).") % {"d": release.get_decision_display()}, True
    elif not (release.params or {}).get("candidates_ready"):
        error, conflict = _("The new version is not running yet; wait until it is."), True
    if error:
        _record(actor, release, what, error)
        if conflict:
            raise OperationConflict(error)
        raise ValidationError({"detail": [error]})


def set_weight(actor: Any, release: Release, weight: Any) -> Release:
    """Send ``weight`` percent (0-100) of the shared routes' traffic to a blue-green release's new version."""
    if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
        authorize(actor, "cs:ControlRelease", release)
        error = _("The weight is a whole percentage between 0 and 100, not %(w)r.") % {"w": weight}
        _record(actor, release, {"weight": str(weight)[:20]}, error)
        raise ValidationError({"weight": [error]})
    _side_by_side(actor, release, {"weight": weight}, blue_green_only=True)
    # Only while no decision is taken: a confirm that got there first keeps its weights.
    if not Release.objects.filter(pk=release.pk, status__in=Release.ACTIVE, decision="").update(weight=weight):
        error = _("The release is already being ended.")
        _record(actor, release, {"weight": weight}, error)
        raise OperationConflict(error)
    sidebyside.set_weights(release.application_id, weight)
    release.refresh_from_db()
    _record(actor, release, {"weight": weight}, "")
    live.publish("application", release.application_id, release.as_live())
    return release


def decide(actor: Any, release: Release, decision: str) -> Release:
    """End a blue-green release: ``confirm`` (the old version goes) or ``rollback`` (the new one goes, the previous
    version is written back); a canary can be rolled back too. The runner carries it out."""
    _side_by_side(actor, release, {"decision": decision}, blue_green_only=decision == Release.Decision.CONFIRM)
    if not Release.objects.filter(pk=release.pk, status__in=Release.ACTIVE, decision="").update(decision=decision):
        error = _("The release has already finished.")
        _record(actor, release, {"decision": decision}, error)
        raise OperationConflict(error)
    if release.params.get("strategy") == "canary":  # a canary's runner is holding a step: a cancel ends the hold
        Release.objects.filter(pk=release.pk).update(cancel_requested=True)
    release.refresh_from_db()
    _record(actor, release, {"decision": decision}, "")
    live.publish("application", release.application_id, release.as_live())
    return release
