"""Blue-green and canary releases: the new version runs beside the old one, and the routers share each route's
traffic between them.

The new version's containers are the next generation of each replica that changes, marked ``candidate`` and started
at weight 0 (a route's share of a container is its ``traffic_weight`` times the route's weight); each is healthy and
in the routers' rotation before anything else happens, and it also answers alone on the preview domain
``preview.<domain>`` of each of its routes.

* **Blue-green** waits for the user: the weight moves in steps (``releases.operations.set_weight``), then **confirm**
  removes the old containers (out of rotation, drained, stopped) and the new ones take all the traffic, or **roll
  back** removes the new ones and writes the previous version back.
* **Canary** moves the weight itself through its steps (10 → 25 → 50 → 100 % by default), holding each, and judges
  every step from the requests the routers logged (``releases.canary``): the new version's 5xx share and p95 latency
  against the old version's. A step that fails rolls back on its own; the last one passed confirms.

Everything the runner decides is on the release row (candidates, steps and their verdicts, the user's decision), so a
runner that resumes after its worker died carries on where it was.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps import converge
from apps import releases as carry
from apps.models import Container, Release, Service, containers_changed
from console import live, work
from releases import canary, rolling

log = logging.getLogger(__name__)
DECISION_POLL = 1.0


def strategy_of(release: Release) -> str:
    """``rolling``, ``blue-green`` or ``canary``."""
    return str((release.params or {}).get("strategy") or "rolling")


def update(run: carry.Run) -> None:
    """``apps.releases.RUNNERS`` for updates: side by side when the update asks for blue-green or canary, else
    rolled (``releases.rolling``)."""
    if strategy_of(run.release) == "rolling":
        rolling.update(run)
    else:
        side_by_side(run)


class RolledBack(work.Canceled):
    """A rollback the user asked for is done: the release ends canceled."""


def side_by_side(run: carry.Run) -> None:
    """Carry out a blue-green or canary release; a cancel (Abort) at any point is a rollback."""
    params = rolling.params_of(run)
    if params.get("to_version_restored"):  # a rollback was under way when the worker died: finish it
        reason = str(params.get("rolled_back_from") or "")
        _finish_rollback(run, reason, canceled=bool(params.get("rolled_back_by_request")))
    try:
        if not params.get("candidates_ready"):
            _start_candidates(run)
        if strategy_of(run.release) == "canary":
            _canary(run)
            return
        _await_decision(run)
    except RolledBack:
        raise
    except work.Canceled:
        asked = Release.objects.filter(pk=run.release.pk).values_list("decision", flat=True).first()
        reason = _("Rolled back by request.") if asked else _("Canceled by request; the new version is removed.")
        _roll_back(run, reason, canceled=True)
    except (work.WorkFailed, *carry.Run.failures) as exc:  # whatever stopped it, the old version takes the traffic
        if rolling.params_of(run).get("to_version_restored"):
            raise  # already rolled back (the new version did not start)
        _roll_back(run, str(exc))


# --- the new version beside the old one ----------------------------------------------------------------


def _services(run: carry.Run) -> list[Service]:
    return list(run.app.services.all())


def _stale(run: carry.Run, services: list[Service]) -> list[Container]:
    """The running containers of the old version: made from another spec than their service's (not candidates)."""
    wanted = {s.pk: converge.fingerprint(run.app, s) for s in services}
    rows = Container.objects.filter(service__in=services, candidate=False).select_related("node", "service")
    return [r for r in rows if r.docker_id and r.spec_hash != wanted[r.service_id]]


def candidates(app_id: int) -> list[Container]:
    """The new version's containers of an application's blue-green or canary release."""
    rows = Container.objects.filter(service__application_id=app_id, candidate=True)
    return list(rows.select_related("node", "service"))


def _old(app_id: int, services: set[int]) -> list[Container]:
    rows = Container.objects.filter(service__application_id=app_id, service_id__in=services, candidate=False)
    return list(rows.select_related("node", "service"))


def _start_candidates(run: carry.Run) -> None:
    """Make and start the new version's containers beside the old ones, at weight 0, and wait until each is healthy
    and in the routers' rotation. When they do not get there, they go and the previous version is written back."""
    carry.within_policy(run)
    services = _services(run)
    old = _stale(run, services)
    made = {(c.service_id, c.index) for c in candidates(run.app.pk)}
    todo = [r for r in old if (r.service_id, r.index) not in made]
    run.set_total(len(old) * 2)
    nodes = {r.node_id: r.node for r in old}
    carry.prepare_nodes(run, nodes, services)
    endpoints = carry.endpoints_of(nodes.values())
    ports = {node_id: converge.HostPorts(carry.reach(endpoints, node_id)) for node_id in nodes}
    by_service: dict[int, list[Container]] = {}
    for row in todo:
        by_service.setdefault(row.service_id, []).append(row)
    new: list[Container] = []
    for service in services:
        if by_service.get(service.pk):
            new += rolling.new_rows(
                run, service, by_service[service.pk], converge.fingerprint(run.app, service), candidate=True
            )
    new += [c for c in candidates(run.app.pk) if c.pk not in {n.pk for n in new}]
    run.event(
        _("Starting the new version beside the old one: %(names)s (weight 0).")
        % {"names": ", ".join(c.name for c in new)}
    )
    failed = rolling.make(run, [c for c in new if not (c.docker_id and c.state == "running")], endpoints, ports)
    started = [c for c in new if c.name not in failed]
    monitor = max((rolling.strategy.config_of(s.spec or {}).monitor for s in services), default=1.0)
    failed.update(rolling.wait_ready(run, started, monitor, endpoints, float(settings.BERTH_ROLLING_READY_TIMEOUT)))
    if failed:
        why = "; ".join(f"{name}: {reason}" for name, reason in sorted(failed.items()))
        _roll_back(run, _("The new version did not start: %(why)s") % {"why": why})
    run.steps_done([_("%(name)s runs beside the old version.") % {"name": c.name} for c in new])
    addresses = sorted(set(sum((hook(new) for hook in carry.PREVIEWS), [])))
    _weight(run, 0)
    rolling.update_params(run, candidates_ready=True, previews=addresses)
    run.publish()
    if addresses:
        run.event(_("Try the new version alone at %(where)s.") % {"where": ", ".join(addresses)})


def set_weights(app_id: int, weight: int) -> None:
    """``weight`` percent of each shared route's traffic to the new version, the rest to the old one."""
    new = candidates(app_id)
    services = {c.service_id for c in new}
    with transaction.atomic():
        Container.objects.filter(pk__in=[c.pk for c in new]).update(traffic_weight=weight)
        Container.objects.filter(service_id__in=services, candidate=False).update(traffic_weight=100 - weight)
    _shown(app_id)


def _shown(app_id: int) -> None:
    """Every container of the application as pages show it (their versions and shares changed), then the routers."""
    shown = Container.objects.filter(service__application_id=app_id).select_related("node")
    live.publish_many("application", app_id, [c.as_live() for c in shown])
    containers_changed(app_id)


def _weight(run: carry.Run, weight: int) -> None:
    Release.objects.filter(pk=run.release.pk).update(weight=weight)
    run.release.weight = weight


def _apply_now(run: carry.Run) -> None:
    """Bring the routers to the weights now (the canary measures from here)."""
    for hook in carry.ROUTERS_NOW:
        try:
            hook(run.app.pk)
        except Exception as exc:  # noqa: BLE001 - the periodic sync brings them there anyway
            log.warning("release %s: the routers did not take the weights at once: %s", run.release.pk, exc)


# --- blue-green ------------------------------------------------------------------------------------------


def _await_decision(run: carry.Run) -> None:
    """Wait, alive, for the user's confirm or rollback; a cancel is a rollback."""
    said = False
    while True:
        decision = Release.objects.filter(pk=run.release.pk).values_list("decision", flat=True).first()
        if decision == Release.Decision.CONFIRM:
            _confirm(run)
            return
        if decision == Release.Decision.ROLLBACK:
            _roll_back(run, _("Rolled back by request."), canceled=True)
        if not said:
            run.event(_("Waiting for a decision: shift the weight, then confirm or roll back."))
            run.publish()
            said = True
        run.checkpoint()  # a cancel is a rollback (side_by_side)
        time.sleep(DECISION_POLL)


def _confirm(run: carry.Run) -> None:
    """The new version takes all the traffic; the old containers leave the routers, drain, stop and go."""
    new = candidates(run.app.pk)
    services = {c.service_id for c in new}
    set_weights(run.app.pk, 100)
    _weight(run, 100)
    rolling.update_params(run, previews=[])
    run.publish()
    _apply_now(run)
    old = _old(run.app.pk, services)
    endpoints = carry.endpoints_of(c.node for c in old)
    grace = max((converge.service_spec(run.app, c.service).stop_timeout for c in old), default=0)
    rolling.retire(run, old, endpoints, grace or settings.BERTH_STOP_TIMEOUT)
    Container.objects.filter(pk__in=[c.pk for c in new]).update(candidate=False, traffic_weight=100)
    _shown(run.app.pk)
    run.steps_done([_("%(name)s removed: the new version serves alone.") % {"name": c.name} for c in old])
    carry.record_digests(run)
    run.event(_("Confirmed: the new version serves all the traffic; the old one is removed."))


def _roll_back(run: carry.Run, reason: str, *, canceled: bool = False) -> None:
    """The old version takes all the traffic back; the new containers go; the previous version is written back. Ends
    the release: canceled when the user asked, failed otherwise (the application runs what it ran before)."""
    params = rolling.params_of(run)
    previous = params.get("from_version")
    set_weights(run.app.pk, 0)
    _weight(run, 0)
    rolling.update_params(run, previews=[])
    run.publish()
    _apply_now(run)
    new = candidates(run.app.pk)
    rolling.discard(run, new, carry.endpoints_of(c.node for c in new), keep_rows=False)
    if previous and not params.get("to_version_restored"):
        rolling.restore(run, int(previous), reason, by_request=canceled)
        carry.record_digests(run)  # the version written back runs exactly what the old containers run
    _finish_rollback(run, reason, canceled=canceled)


def _finish_rollback(run: carry.Run, reason: str, *, canceled: bool = False) -> None:
    new = candidates(run.app.pk)
    if new:
        rolling.discard(run, new, carry.endpoints_of(c.node for c in new), keep_rows=False)
    Container.objects.filter(service__application=run.app).update(traffic_weight=100)
    _shown(run.app.pk)
    run.recovered = True
    params = rolling.params_of(run)
    said = {"why": reason.rstrip("."), "n": params.get("to_version_restored"), "made": params.get("version_made")}
    if canceled:
        raise RolledBack(
            _("%(why)s; the old version serves again (version %(n)s, written back as version %(made)s).") % said
        )
    raise carry.ReleaseFailed(
        _("%(why)s; rolled back: the old version serves again (version %(n)s, written back as version %(made)s).")
        % said
    )


# --- canary ----------------------------------------------------------------------------------------------


def _canary(run: carry.Run) -> None:
    """Each step: the weight, held, judged from the routers' request log; a failed step rolls back, the last one
    passed confirms."""
    params = rolling.params_of(run)
    chosen, _problems = canary.settings_of(params.get("canary") or {})
    settings_ = chosen or canary.Settings()
    judged: list[dict[str, Any]] = list(params.get("verdicts") or [])
    baseline: canary.Figures | None = None
    for entry in judged:  # a resumed canary compares with what the old version did in the steps already judged
        old = entry.get("old") or {}
        if old.get("requests", 0) >= settings_.min_requests:
            baseline = canary.Figures(old["requests"], old.get("errors_5xx", 0), old.get("p95_ms"))
    for number, weight in enumerate(settings_.steps, start=1):
        if number <= len(judged) and judged[number - 1]["outcome"] == "passed":
            continue
        set_weights(run.app.pk, weight)
        _weight(run, weight)
        run.publish()
        _apply_now(run)
        run.event(
            _("Canary step %(n)s of %(of)s: %(w)s%% of the traffic to the new version, held %(s)s s.")
            % {"n": number, "of": len(settings_.steps), "w": weight, "s": int(settings_.hold)}
        )
        since = time.time()
        verdict = None
        for attempt in range(3):  # too few requests: held again, at most twice
            rolling.sleep(run, settings_.hold)
            verdict = _measure(run, since, settings_, baseline)
            if verdict.outcome != "wait":
                break
            if attempt < 2:
                run.event(_("Canary step %(n)s held again: %(why)s.") % {"n": number, "why": verdict.reason}, "warning")
        assert verdict is not None
        if verdict.old.requests >= settings_.min_requests:
            baseline = verdict.old
        entry = {"step": number, "weight": weight, "at": timezone.now().isoformat(), **verdict.as_dict()}
        judged = judged[: number - 1] + [entry]
        rolling.update_params(run, verdicts=judged)
        run.publish()
        what = {"n": number, "w": weight, "why": verdict.reason}
        if verdict.outcome != "passed":
            run.event(_("Canary step %(n)s (%(w)s%%) failed: %(why)s.") % what, "error")
            _roll_back(run, _("Canary step %(n)s (%(w)s%%) failed: %(why)s") % what)
        run.event(_("Canary step %(n)s (%(w)s%%) passed: %(why)s.") % what)
    _confirm(run)


def _measure(run: carry.Run, since: float, settings_: canary.Settings, baseline: canary.Figures | None) -> Any:
    new = candidates(run.app.pk)
    old = _old(run.app.pk, {c.service_id for c in new})
    lines: list[str] = []
    for hook in carry.REQUEST_LOG:
        lines += hook(new + old, since)
    requests = canary.parse(lines)
    new_figures = canary.figures(requests, {c.name for c in new})
    old_figures = canary.figures(requests, {c.name for c in old})
    if old_figures.requests < settings_.min_requests and baseline is not None:
        old_figures = baseline  # at 100 % the old version answers nothing: the last step it answered enough is kept
    return canary.judge(new_figures, old_figures, settings_)
