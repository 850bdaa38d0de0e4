"""Rolling releases: the running containers of an update, rollback or redeploy are replaced batch by batch, each
batch health-gated, as ``releases.planner`` planned it (stored on the release row, so a resumed run follows the same
steps).

A batch, start-first: the new containers (the replica's next generation, on the same node) are made and started; the
batch waits until each is running, healthy when it has a health check, still so after ``monitor`` seconds, and in the
traffic of every router that serves its service; then the old ones leave the routers' rotation, their connections
drain, and they stop (their stop grace period honoured) and go. Stop-first does the old half first. A batch whose new
containers do not get there fails: they are removed (start-first: the old ones never left the traffic), and the
service's ``failure_action`` decides: ``pause`` waits for the user (resume tries the batch again, cancel ends the
release), ``rollback`` restores the exact previous version through the same machinery, ``continue`` goes on within
``max_failure_ratio``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from apps import converge, stacks
from apps import releases as carry
from apps.models import AppVersion, Container, Release, Service, containers_changed
from clusters import docker_host as host
from console import live, work
from releases import planner, strategy

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5


class RollBack(work.WorkFailed):
    """A batch failed and its service asks for a rollback; the message says why."""


def params_of(run: carry.Run) -> dict[str, Any]:
    return Release.objects.filter(pk=run.release.pk).values_list("params", flat=True).first() or {}


def _save_params(run: carry.Run, params: dict[str, Any]) -> None:
    Release.objects.filter(pk=run.release.pk).update(params=params)
    run.release.params = params


def update_params(run: carry.Run, **fields: Any) -> None:
    """Write ``fields`` into the release's ``params`` (only its runner writes them)."""
    _save_params(run, {**params_of(run), **fields})


def steps_for(run: carry.Run, services: list[Service], rows: list[Container]) -> list[dict[str, Any]]:
    """The release's steps for the services of ``rows``: those stored on the row when an earlier attempt planned
    them for the same fingerprint, else planned now and stored."""
    params = params_of(run)
    stored = {step["service"]: step for step in params.get("plan", [])}
    rolling_back = bool(params.get("rolled_back_from"))  # the automatic way back goes by rollback_config
    by_id = {s.pk: s for s in services}
    steps, changed = [], False
    for service_id in sorted({r.service_id for r in rows}, key=lambda pk: [s.pk for s in services].index(pk)):
        service = by_id[service_id]
        wanted = converge.fingerprint(run.app, service)
        step = stored.get(service.name)
        if step is None or step["fingerprint"] != wanted:
            config = strategy.config_of(service.spec or {}, rollback=rolling_back)
            mine = [r for r in rows if r.service_id == service_id]
            # Every row handed over is replaced, even one made from this spec (a redeploy, an image pulled anew):
            # the planner sees it as made from something else.
            replicas = [planner.Replica(r.index, "" if r.spec_hash == wanted else r.spec_hash) for r in mine]
            fixed = strategy.fixed_ports(service.spec or {}, service.host_port)
            step = planner.plan_service(service.name, replicas, wanted, config, fixed_ports=fixed)
            if step is None:
                continue
            step["generations"] = {str(r.index): r.generation for r in mine}  # a replica is done past these
            stored[service.name] = step
            changed = True
        steps.append(step)
    if changed:
        _save_params(run, {**params, "plan": list(stored.values())})
    return steps


def wait_while_paused(run: carry.Run) -> None:
    """Before a batch: while the release is paused, wait (alive, and ending at a cancel). A release rolling back
    is not held."""
    if params_of(run).get("rolled_back_from"):
        return
    announced = False
    while Release.objects.filter(pk=run.release.pk, paused=True).exists():
        if not announced:
            run.release.paused = True
            run.event(_("Paused: the next batch waits until the release is resumed."))
            run.publish()
            announced = True
        run.checkpoint(_("Canceled while paused."))
        time.sleep(POLL_SECONDS * 2)
    if announced:
        run.release.paused = False
        run.publish()
        run.event(_("Resumed."))


def _pause(run: carry.Run, message: str) -> None:
    Release.objects.filter(pk=run.release.pk).update(paused=True)
    run.event(message, "warning")
    wait_while_paused(run)


def sleep(run: carry.Run, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        run.checkpoint()
        time.sleep(min(left, 1.0))


def _health(endpoints: carry.Reach, row: Container) -> host.Health:
    return host.container_health(carry.reach(endpoints, row.node_id), row.docker_id)


def wait_ready(
    run: carry.Run, rows: list[Container], monitor: float, endpoints: carry.Reach, timeout: float
) -> dict[str, str]:
    """Wait until every row's container runs, is healthy (when it has a check) and has stayed so for ``monitor``
    seconds, then until the routers serving it have it in rotation; the names of those that did not, with why."""
    deadline = time.monotonic() + timeout
    since: dict[int, float] = {}
    failed: dict[str, str] = {}
    waiting = {r.pk: r for r in rows}
    while waiting:
        now = time.monotonic()
        for row in list(waiting.values()):
            try:
                seen = _health(endpoints, row)
            except host.HostError as exc:
                failed[row.name] = str(exc)
                waiting.pop(row.pk)
                continue
            if seen.state != "running":
                code = "" if seen.exit_code is None else _(" (exit code %(c)s)") % {"c": seen.exit_code}
                failed[row.name] = _("it is %(state)s%(code)s") % {"state": seen.state, "code": code}
            elif seen.health == "unhealthy":
                failed[row.name] = _("its health check fails: %(out)s") % {"out": seen.last_check or _("no output")}
            elif seen.health in ("", "healthy"):
                since.setdefault(row.pk, now)
                if now - since[row.pk] >= monitor:
                    waiting.pop(row.pk)
                continue
            else:  # starting
                since.pop(row.pk, None)
                if now < deadline:
                    continue
                failed[row.name] = _("it was not healthy within %(s)s s") % {"s": int(timeout)}
            waiting.pop(row.pk)
        if waiting:
            if now >= deadline:
                for row in waiting.values():
                    failed[row.name] = _("it was not ready within %(s)s s") % {"s": int(timeout)}
                break
            run.checkpoint()
            time.sleep(POLL_SECONDS)
    ready = [r for r in rows if r.name not in failed]
    left = max(5.0, deadline - time.monotonic())
    for check in carry.IN_ROTATION if ready else ():
        for name in check(ready, left, run.heartbeat):
            failed.setdefault(name, _("the routers do not have it in rotation (their health check of it fails)"))
    return failed


def make(
    run: carry.Run, rows: list[Container], endpoints: carry.Reach, ports: dict[int, converge.HostPorts]
) -> dict[str, str]:
    """Create and start the containers of ``rows`` (new rows of a batch); the names of those that failed, with
    why. Rows whose container could not be made keep no container."""
    app, release = run.app, run.release
    failed: dict[str, str] = {}

    def make(row: Container) -> host.ContainerState:
        endpoint = carry.reach(endpoints, row.node_id)
        port_book = ports.get(row.node_id) or converge.HostPorts(endpoint)
        spec = converge.container_spec(app, row.service, release, row)
        state, _created = converge.ensure_running(endpoint, spec, port_book)
        return state

    def made(row: Container, state: Any, exc: BaseException | None) -> None:
        if exc is not None:
            failed[row.name] = str(exc)
            Container.objects.filter(pk=row.pk).update(state="failed")
            return
        carry.record_state(run, row, state)

    carry.pool_map(rows, make, made, node_of=lambda r: r.node_id)
    return failed


def retire(run: carry.Run, rows: list[Container], endpoints: carry.Reach, grace: int) -> None:
    """Take ``rows`` out of the routers' rotation, let their connections drain, stop them within ``grace`` seconds
    and remove them with their rows."""
    live_rows = [r for r in rows if r.docker_id]
    carry.let_go(run, live_rows)
    for drain in carry.DRAIN if live_rows else ():
        try:
            drain(live_rows, float(grace), run.heartbeat)
        except Exception as exc:  # noqa: BLE001 - draining is a courtesy; the stop goes on
            log.warning("release %s: draining failed: %s", run.release.pk, exc)
    errors: list[str] = []

    def stop(row: Container) -> None:
        if row.docker_id:
            endpoint = carry.reach(endpoints, row.node_id)
            host.stop_container(endpoint, row.docker_id, grace)
            host.remove_container(endpoint, row.docker_id)

    def stopped(row: Container, _result: Any, exc: BaseException | None) -> None:
        if exc is not None:
            errors.append(f"{row.name}: {exc}")
            return
        Container.objects.filter(pk=row.pk).delete()
        live.publish("application", run.app.pk, {"type": "container", "name": row.name, "state": "removed"})

    carry.pool_map(rows, stop, stopped, tick=run.heartbeat, node_of=lambda r: r.node_id)
    containers_changed(run.app.pk)
    if errors:
        raise carry.ReleaseFailed("; ".join(errors))


def discard(run: carry.Run, rows: list[Container], endpoints: carry.Reach, *, keep_rows: bool) -> None:
    """Remove new containers that failed: they never served. Their rows go too, or (``keep_rows``: stop-first, whose
    old containers are gone) stay as failed replicas without a container, which a retry or a rollback makes again."""
    carry.let_go(run, [r for r in rows if r.docker_id])
    for row in rows:
        made = Container.objects.filter(pk=row.pk).values_list("docker_id", flat=True).first()
        if made:
            try:
                host.remove_container(carry.reach(endpoints, row.node_id), made)
            except host.HostError as exc:
                log.warning("release %s: could not remove %s: %s", run.release.pk, row.name, exc)
                continue
        if keep_rows:
            Container.objects.filter(pk=row.pk).update(state="failed", docker_id="")
            row.state, row.docker_id = "failed", ""
            run.container_changed(row)
            continue
        Container.objects.filter(pk=row.pk).delete()
        live.publish("application", run.app.pk, {"type": "container", "name": row.name, "state": "removed"})
    containers_changed(run.app.pk)


def new_rows(
    run: carry.Run, service: Service, old: list[Container], fingerprint: str, *, candidate: bool = False
) -> list[Container]:
    """The next generation's rows of the replicas ``old`` (same node), written before anything is made; a
    ``candidate`` (a blue-green or canary release's new version) starts with no share of the traffic."""
    wanted = [
        Container(
            service=service,
            index=row.index,
            generation=row.generation + 1,
            node_id=row.node_id,
            name=converge.container_name(run.app, service, row.index, row.generation + 1),
            state="pending",
            spec_hash=fingerprint,
            candidate=candidate,
            traffic_weight=0 if candidate else 100,
        )
        for row in old
    ]
    with transaction.atomic():
        Container.objects.bulk_create(wanted, ignore_conflicts=True)
    keys = {(r.index, r.generation) for r in wanted}
    found = Container.objects.filter(service=service, index__in=[k[0] for k in keys]).select_related("node", "service")
    rows = [r for r in found if (r.index, r.generation) in keys]
    run.containers_changed(rows)
    return rows


def _batch(
    run: carry.Run,
    service: Service,
    step: dict[str, Any],
    old: list[Container],
    endpoints: carry.Reach,
    ports: dict[int, converge.HostPorts],
) -> dict[str, str]:
    """Replace the replicas ``old`` (their current rows) of one batch; the new containers that failed, with why
    (none: the batch is done)."""
    grace = converge.service_spec(run.app, service).stop_timeout or settings.BERTH_STOP_TIMEOUT
    timeout = float(settings.BERTH_ROLLING_READY_TIMEOUT)
    stop_first = step["order"] == "stop-first"
    if stop_first:
        retire(run, old, endpoints, grace)  # the rows stay in memory: the new ones take their places
    new = new_rows(run, service, old, step["fingerprint"])
    try:
        failed = make(run, new, endpoints, ports)
        started = [r for r in new if r.name not in failed]
        failed.update(wait_ready(run, started, float(step["monitor"]), endpoints, timeout))
    except work.Canceled:
        discard(run, new, endpoints, keep_rows=stop_first)  # an abort in a batch: start-first's old ones stay
        raise
    if failed:
        discard(run, [r for r in new if r.name in failed], endpoints, keep_rows=stop_first)
        return failed
    run.event(_("%(names)s healthy and in rotation.") % {"names": ", ".join(r.name for r in new)})
    if not stop_first:
        retire(run, old, endpoints, grace)
    pairs = zip(old, new, strict=True)
    run.steps_done([_("%(old)s replaced by %(new)s.") % {"old": o.name, "new": n.name} for o, n in pairs])
    return {}


def _current(service: Service, index: int, step: dict[str, Any]) -> Container | None:
    """The replica's newest row when it still needs replacing: not yet of a generation past the one the step
    planned to replace, or made from another spec, or without a running container; None when it is done."""
    row = (
        Container.objects.filter(service=service, index=index)
        .select_related("node", "service")
        .order_by("-generation")
        .first()
    )
    if row is None:
        return None
    planned = (step.get("generations") or {}).get(str(index), -1)
    done = row.generation > planned and row.spec_hash == step["fingerprint"]
    if done and row.docker_id and row.state == "running":
        return None
    return row


def roll(
    run: carry.Run,
    services: list[Service],
    rows: list[Container],
    endpoints: carry.Reach,
    ports: dict[int, converge.HostPorts],
) -> None:
    """``apps.releases.ROLLING``: replace the running containers ``rows`` (of one dependency level) as planned."""
    by_name = {s.name: s for s in services}
    rolling_back = bool(params_of(run).get("rolled_back_from"))
    for step in steps_for(run, services, rows):
        service = by_name[step["service"]]
        mine = {r.index for r in rows if r.service_id == service.pk}
        left = planner.remaining(step, {i for b in step["batches"] for i in b} - mine)
        total = sum(len(b) for b in left)
        action = "stop" if rolling_back else step["failure_action"]  # the way back cannot pause or go back
        failures = 0
        if step["note"]:
            run.event(_("%(service)s: %(note)s.") % {"service": service.name, "note": step["note"]})
        for number, indexes in enumerate(left, start=1):
            while True:
                wait_while_paused(run)
                run.checkpoint()
                old = [row for i in indexes if (row := _current(service, i, step)) is not None]
                if not old:
                    break
                names = ", ".join(r.name for r in old)
                what = {"service": service.name, "n": number, "of": len(left), "order": step["order"], "names": names}
                run.event(_("%(service)s: batch %(n)s of %(of)s, %(order)s: replacing %(names)s.") % what)
                failed = _batch(run, service, step, old, endpoints, ports)
                if not failed:
                    break
                what["why"] = "; ".join(f"{name}: {why}" for name, why in sorted(failed.items()))
                if action == "rollback":
                    raise RollBack(_("%(service)s: batch %(n)s failed (%(why)s)") % what)
                if action == "stop":
                    raise carry.ReleaseFailed(_("%(service)s: the way back failed at batch %(n)s (%(why)s)") % what)
                if action == "continue":
                    failures += len(failed)
                    run.event(_("%(service)s: batch %(n)s failed (%(why)s); going on.") % what, "warning")
                    if failures / max(total, 1) > float(step["max_failure_ratio"]):
                        what.update(f=failures, t=total, r=step["max_failure_ratio"])
                        raise carry.ReleaseFailed(
                            _("%(service)s: %(f)s of %(t)s new containers failed, more than the ratio %(r)s allows")
                            % what
                        )
                    break
                _pause(
                    run,
                    _(
                        "%(service)s: batch %(n)s failed (%(why)s). The release is paused; the containers that ran "
                        "before still serve. Resume to try the batch again, or abort the release."
                    )
                    % what,
                )
            if number < len(left) and step["delay"]:
                sleep(run, float(step["delay"]))


def update(run: carry.Run) -> None:
    """An update or rollback, rolled (``_rolled``)."""
    _rolled(run, carry.update)


def redeploy(run: carry.Run) -> None:
    """A redeploy (images pulled again, every container made again), rolled (``_rolled``)."""
    _rolled(run, carry.redeploy)


def _rolled(run: carry.Run, release: Any) -> None:
    """Carry out ``release``. When a batch fails and its service asks for a rollback, or the user aborts the release,
    the exact previous version (template text, variables, image digests) is written back and the containers replaced
    so far are rolled back the same way: the release then fails (or, aborted, ends canceled) saying so, while the
    application runs what it ran before and its definition says so."""
    params = params_of(run)
    if not params.get("rolled_back_from"):
        try:
            release(run)
            return
        except carry.ReleaseFailed as exc:
            if not isinstance(exc.__cause__, RollBack):
                raise
            reason, by_request = str(exc), False
        except work.Canceled as exc:
            reason, by_request = str(exc).rstrip(".") or _("Aborted by request"), True
        previous = params.get("from_version")
        if not previous:
            raise carry.ReleaseFailed(_("%(why)s; there is no earlier version to roll back to.") % {"why": reason})
        # The way back runs to its end: the abort that started it is done, and a pause no longer holds it.
        Release.objects.filter(pk=run.release.pk).update(cancel_requested=False, paused=False)
        restore(run, int(previous), reason, by_request=by_request)
    else:
        run.event(_("Resuming the rollback to version %(n)s.") % {"n": params.get("to_version_restored")}, "warning")
    carry.update(run)
    params = params_of(run)
    run.recovered = True
    said = {"why": params.get("rolled_back_from"), "n": params.get("to_version_restored")}
    if params.get("rolled_back_by_request"):
        raise work.Canceled(_("%(why)s; the containers replaced so far are rolled back to version %(n)s.") % said)
    raise carry.ReleaseFailed(_("%(why)s; rolled back to version %(n)s, which runs.") % said)


def restore(run: carry.Run, number: int, reason: str, *, by_request: bool = False) -> None:
    """Write version ``number`` back as the application's next version (its pinned digests too), noted as a rollback
    the user asked for (``by_request``) or an automatic one."""
    app = run.app
    version = AppVersion.objects.get(application=app, number=number)
    run.event(
        _("%(why)s. Rolling back to version %(n)s.") % {"why": reason.rstrip("."), "n": number},
        "warning" if by_request else "error",
    )
    prepared = stacks.prepare(
        run.release.actor, app.cluster, app.name, version.compose, stacks.version_variables(version), app.config_set
    )
    if version.digests:
        prepared.services = stacks.pin(prepared.services, version.digests)
    note = f"rolled back to v{number} by request" if by_request else f"automatic rollback to v{number}"
    with transaction.atomic():
        stacks.write_services(app, prepared.services)
        restored = stacks.add_version(
            app, version.compose, stacks.version_variables(version), run.release.actor, note=note
        )
        params = params_of(run)
        params.pop("plan", None)  # the way back is planned afresh, with the services' rollback_config
        _save_params(
            run,
            {
                **params,
                "rolled_back_from": reason,
                "rolled_back_by_request": by_request,
                "to_version_restored": number,
                "version_made": restored.number,
            },
        )
    run.app.refresh_from_db()
