"""Use cases of applications: one function each, called by views, the API, commands and tasks alike.

Each authorizes, validates, writes the desired state, records the operation log and enqueues
the long work after the transaction commits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import NAME_VALIDATOR
from accounts.permissions import authorize
from apps import preflight, stacks
from apps.image_spec import ImageAppSpec, validate_spec
from apps.models import MAX_SCALE, Application, AppVersion, ConfigSet, Release, ReleaseEvent, Service
from apps.scheduler import PlacementError
from clusters.models import Cluster
from console import audit, context, live, work
from console.errors import OperationConflict


def unix_newlines(text: str) -> str:
    """``text`` with every line ending ``\n``: a browser's textarea sends ``\r\n``, and a template, config value or
    Compose text is stored and answered as typed on any system, whatever sent it."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_environment(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (blank lines and ``#`` comments skipped) to a dict; errors name the line."""
    env: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition("=")
        if not sep:
            raise ValidationError({"environment": _("Line %(n)s: use KEY=VALUE.") % {"n": number}})
        env[key.strip()] = value
    return env


NAME_TAKEN = gettext_lazy("An application with this name already exists in the cluster.")


def _lock(row: Application | Cluster | ConfigSet) -> None:
    """Lock ``row`` until the caller's transaction ends: a second request that locks it waits for the first to
    commit, and its checks then see what the first wrote (on SQLite, whose writers take turns, a no-op)."""
    list(type(row)._default_manager.select_for_update().filter(pk=row.pk).values_list("pk", flat=True))


def _start_release(actor: Any, app: Application, kind: str, params: dict[str, Any] | None = None) -> Release:
    """Create the release row (refusing when another is active) and send it to a worker after commit.

    One active release per application: the application's row is locked before the check, and the database
    holds the rule too (``release_one_active_per_app``); a write that still meets another is the same conflict.
    The row is the accepted work: when the broker cannot be reached the request still answers 202 and the
    release waits, pending, until the reaper sends it again (console.work).
    """
    from apps.tasks import run_release

    busy = OperationConflict(_("Another operation on %(app)s is still in progress.") % {"app": app.name})
    _lock(app)
    if Release.objects.filter(application=app, status__in=Release.ACTIVE).exists():
        raise busy
    try:
        with transaction.atomic():
            release = Release.objects.create(
                application=app,
                kind=kind,
                params=params or {},
                actor=actor,
                request_id=context.request_id.get(),
                source=context.source.get(),
            )
    except IntegrityError as exc:
        raise busy from exc
    work.enqueue(lambda release_id: run_release.delay(release_id), release.pk)
    return release


def _claim_name(cluster: Cluster, name: str) -> None:
    """Refuse ``name`` when a live application of the cluster has it, with the cluster's row locked until the
    transaction ends: deploys in one cluster take turns, so the checks that precede their writes (the name, host
    ports) see every deploy before them."""
    _lock(cluster)
    if Application.objects.filter(cluster=cluster, name=name, deleted_at__isnull=True).exists():
        raise ValidationError({"name": [NAME_TAKEN]})


def _create_application(cluster: Cluster, name: str, **fields: Any) -> Application:
    """The application's row (after ``_claim_name``); the database holds the name rule too (``app_name_unique_live``):
    a write that still meets another application of the name is the same refusal, a 400."""
    try:
        with transaction.atomic():
            return Application.objects.create(tenant=cluster.tenant, cluster=cluster, name=name, **fields)
    except IntegrityError as exc:
        raise ValidationError({"name": [NAME_TAKEN]}) from exc


def deploy_application(
    actor: Any, cluster: Cluster, spec: ImageAppSpec, *, dry_run: bool = False
) -> dict[str, Any] | Release:
    """Create an application of one service from an image and deploy it: the plan with ``dry_run`` (nothing is
    written, nothing is logged), else the release.

    The plan is checked first, for a deploy as for a plan (``apps.preflight.image_plan``): every field, the name,
    where the containers go, and the image: one that a node getting a container lacks and no registry gives is
    refused here (400) rather than left behind as a failed application. Page, API and CLI all come here.
    """
    authorize(actor, "cs:CreateApplication", cluster)
    try:
        if Application.objects.filter(cluster=cluster, name=spec.name, deleted_at__isnull=True).exists():
            raise ValidationError({"name": [NAME_TAKEN]})
        the_plan = preflight.image_plan(actor, cluster, spec)
        if dry_run:
            return the_plan
        argv, env = validate_spec(spec)
        with transaction.atomic():
            authorize(actor, "cs:CreateApplication", cluster)  # re-checked inside the transaction
            _claim_name(cluster, spec.name)
            if (
                spec.host_port is not None
                and Service.objects.filter(
                    application__cluster=cluster, application__deleted_at__isnull=True, host_port=spec.host_port
                ).exists()
            ):
                raise ValidationError(
                    {
                        "host_port": _("Host port %(port)s is already used by another application.")
                        % {"port": spec.host_port}
                    }
                )
            app = _create_application(cluster, spec.name, description=spec.description, created_by=actor)
            Service.objects.create(
                application=app,
                name=spec.name,
                image=spec.image,
                command=argv,
                environment=env,
                scale=spec.scale,
                container_port=spec.container_port,
                host_port=spec.host_port,
            )
            release = _start_release(actor, app, Release.Kind.DEPLOY)
            audit.record(
                "cs:CreateApplication",
                actor=actor,
                resource=app.resource_name,
                target=app.name,
                cluster_id=cluster.pk,
                parameters={
                    "image": spec.image,
                    "scale": spec.scale,
                    "environment": sorted(env),  # names only: values are secrets until shown otherwise
                    "container_port": spec.container_port,
                    "host_port": spec.host_port,
                    "release": release.pk,
                },
                outcome=audit.OperationLog.Outcome.ACCEPTED,
            )
            return release
    except ValidationError as exc:
        if dry_run:
            raise
        audit.record(
            "cs:CreateApplication",
            actor=actor,
            resource=f"{cluster.resource_name}/application/{spec.name[:63]}",
            target=spec.name[:63],
            cluster_id=cluster.pk,
            parameters={"image": spec.image[:255]},
            outcome=audit.OperationLog.Outcome.FAILURE,
            error="; ".join(exc.messages),
        )
        raise


def _lifecycle(actor: Any, app: Application, kind: str, action: str, params: dict[str, Any] | None = None) -> Release:
    authorize(actor, action, app)
    try:
        with transaction.atomic():
            app = Application.objects.select_for_update().get(pk=app.pk)
            authorize(actor, action, app)  # re-checked inside the transaction: grants may have changed
            if app.deleted_at is not None or app.status == Application.Status.DELETED:
                raise OperationConflict(_("%(app)s has been deleted.") % {"app": app.name})
            release = _start_release(actor, app, kind, params)
            audit.record(
                action,
                actor=actor,
                resource=app.resource_name,
                target=app.name,
                cluster_id=app.cluster_id,
                parameters={"release": release.pk},
                outcome=audit.OperationLog.Outcome.ACCEPTED,
            )
            return release
    except OperationConflict as exc:
        audit.record(
            action,
            actor=actor,
            resource=app.resource_name,
            target=app.name,
            cluster_id=app.cluster_id,
            outcome=audit.OperationLog.Outcome.FAILURE,
            error=str(exc),
        )
        raise


def start_application(actor: Any, app: Application) -> Release:
    """Start every container of the application, recreating any that vanished: that makes containers from the
    stored services, so the cluster's security policy holds for ``actor`` as for a scale or a redeploy."""
    authorize(actor, "cs:StartApplication", app)
    check_policy(actor, app)
    return _lifecycle(actor, app, Release.Kind.START, "cs:StartApplication")


def stop_application(actor: Any, app: Application) -> Release:
    """Stop every container gracefully."""
    return _lifecycle(actor, app, Release.Kind.STOP, "cs:StopApplication")


def restart_application(actor: Any, app: Application) -> Release:
    """Restart every container (those that exist: a restart makes none, see releases.restart)."""
    return _lifecycle(actor, app, Release.Kind.RESTART, "cs:RestartApplication")


def delete_application(actor: Any, app: Application) -> Release:
    """Remove the application's containers and network from every node; the row stays, marked deleted."""
    return _lifecycle(actor, app, Release.Kind.DELETE, "cs:DeleteApplication")


def request_cancel(actor: Any, release: Release) -> bool:
    """Ask an active release to stop at its next checkpoint; True when the request was recorded."""
    authorize(actor, "cs:CancelRelease", release)
    changed = Release.objects.filter(pk=release.pk, status__in=Release.ACTIVE).update(cancel_requested=True)
    audit.record(
        "cs:CancelRelease",
        actor=actor,
        resource=release.application.resource_name,
        target=f"{release.application.name} #{release.pk}",
        cluster_id=release.application.cluster_id,
        outcome=audit.OperationLog.Outcome.SUCCESS if changed else audit.OperationLog.Outcome.FAILURE,
        error="" if changed else _("The release has already finished."),
    )
    return bool(changed)


# --- Compose applications --------------------------------------------------------------------------


def _audit_failure(actor: Any, action: str, cluster: Cluster, name: str, exc: Exception) -> None:
    messages = getattr(exc, "messages", None) or [str(exc)]
    audit.record(
        action,
        actor=actor,
        resource=f"{cluster.resource_name}/application/{name[:63]}",
        target=name[:63],
        cluster_id=cluster.pk,
        outcome=audit.OperationLog.Outcome.FAILURE,
        error="; ".join(messages)[:2000],
    )


def deploy_compose(
    actor: Any,
    cluster: Cluster,
    *,
    name: str,
    compose: str,
    variables: dict[str, str] | None = None,
    config_set: Any = None,
    template: Any = None,
    description: str = "",
    dry_run: bool = False,
) -> dict[str, Any] | Release:
    """Create an application from a Compose text (or a template's) with variables: the plan, or the release."""
    authorize(actor, "cs:CreateApplication", cluster)
    compose = unix_newlines(compose)
    if config_set is not None:
        authorize(actor, "cs:UseConfigSet", config_set)  # its secrets reach the containers: a permission of its own
    try:
        NAME_VALIDATOR(name)
    except ValidationError as exc:
        raise ValidationError({"name": exc.messages}) from exc
    if Application.objects.filter(cluster=cluster, name=name, deleted_at__isnull=True).exists():
        raise ValidationError({"name": [NAME_TAKEN]})
    try:
        prepared = stacks.prepare(actor, cluster, name, compose, variables or {}, config_set)
        try:
            the_plan = prepared.masker.data(stacks.plan(name, cluster, None, prepared))
        except PlacementError as exc:
            raise prepared.masker.error(stacks.explain(exc)) from exc
    except ValidationError as exc:
        if not dry_run:
            _audit_failure(actor, "cs:CreateApplication", cluster, name, exc)
        raise
    if the_plan["port_conflicts"]:
        conflicts = [
            _("port %(port)s of %(service)s is published by %(other)s")
            % {"port": c["port"], "service": c["service"], "other": c["used_by"]}
            for c in the_plan["port_conflicts"]
        ]
        if not dry_run:
            _audit_failure(actor, "cs:CreateApplication", cluster, name, ValidationError(conflicts))
            raise ValidationError({"ports": conflicts})
    if dry_run:
        return the_plan
    try:
        with transaction.atomic():
            authorize(actor, "cs:CreateApplication", cluster)
            _claim_name(cluster, name)  # a deploy of the same name that committed since the first check
            if config_set is not None:
                _lock(config_set)  # its deletion checks for users under the same lock (library.delete_config_set)
            app = _create_application(
                cluster, name, description=description, created_by=actor, template=template, config_set=config_set
            )
            stacks.write_services(app, prepared.services)
            stacks.add_version(app, compose, {k: v for k, v in (variables or {}).items()}, actor, note="created")
            release = _start_release(actor, app, Release.Kind.DEPLOY)
            audit.record(
                "cs:CreateApplication",
                actor=actor,
                resource=app.resource_name,
                target=app.name,
                cluster_id=cluster.pk,
                parameters={
                    "services": [r.name for r in prepared.services],
                    "variables": sorted(variables or {}),  # names only: values are secrets until shown otherwise
                    "release": release.pk,
                    "template": template.name if template else None,
                },
                outcome=audit.OperationLog.Outcome.ACCEPTED,
            )
    except ValidationError as exc:
        _audit_failure(actor, "cs:CreateApplication", cluster, name, exc)
        raise
    return release


class NothingToChange(ValidationError):
    """An update that would change nothing: refused (400) before any version, release or log entry is made."""


NOTHING_TO_CHANGE = gettext_lazy(
    "Nothing to change: the template and variables are those of the current version and every container is "
    "already as they say."
)


def changes_nothing(current: AppVersion, text: str, values: dict[str, str], the_plan: dict[str, Any]) -> bool:
    """Whether applying ``text`` and ``values`` (planned as ``the_plan``) over version ``current`` would change
    nothing: the same text and variables, and no container to create, recreate or remove, no image, scale or
    service to change, and no image to pull again."""
    if text != current.compose or values != stacks.version_variables(current):
        return False
    if the_plan["removed_services"]:
        return False
    return not any(
        item["new"]
        or item["image_change"]
        or item["pull_always"]
        or item["scale"]["from"] != item["scale"]["to"]
        or item["create"]
        or item["recreate"]
        or item["remove"]
        for item in the_plan["services"]
    )


STRATEGIES: dict[
    str, Callable[[Application, dict[str, Any], dict[str, Any] | None], tuple[dict[str, Any], list[str]]]
] = {}
"""How an update may be released besides rolling (``blue-green``, ``canary``): each checks the application and the
update's plan (and a canary's settings), and gives the release's parameters or the reasons it refuses. Filled by the
releases layer."""


def update_application(
    actor: Any,
    app: Application,
    *,
    compose: str | None = None,
    variables: dict[str, str] | None = None,
    dry_run: bool = False,
    note: str = "updated",
    pins: dict[str, str] | None = None,
    rollback_to: int | None = None,
    strategy: str = "rolling",
    canary: dict[str, Any] | None = None,
) -> dict[str, Any] | Release:
    """Apply a new Compose text and/or variables as the next version (plan first with ``dry_run``).

    ``pins`` (service → ``repo@digest``, a rollback's recorded digests) make those services run exactly
    that image rather than what their tag points to now. ``rollback_to`` (the version a rollback restores) makes
    it a rollback: its own action, release kind and log entry. ``strategy`` is how the running containers are
    replaced: ``rolling`` (batch by batch), or side by side (``blue-green``, ``canary`` with its ``canary``
    settings; ``STRATEGIES``).
    """
    action = "cs:RollbackApplication" if rollback_to else "cs:UpdateApplication"
    authorize(actor, action, app)
    compose = None if compose is None else unix_newlines(compose)
    current = app.versions.order_by("-number").first()
    if app.config_set is not None and compose is not None and not app.versions.filter(compose=compose).exists():
        # A text this application never ran, interpolated with the config set's secrets: the same right as a deploy.
        authorize(actor, "cs:UseConfigSet", app.config_set)
    if current is None:
        raise ValidationError(
            {
                "compose": [
                    _("This application was made from an image; deploy it from a template to update it with Compose.")
                ]
            }
        )
    text = compose if compose is not None else current.compose
    values = variables if variables is not None else stacks.version_variables(current)
    prepared = stacks.prepare(actor, app.cluster, app.name, text, values, app.config_set)
    if pins:
        prepared.services = stacks.pin(prepared.services, pins)
    try:
        the_plan = prepared.masker.data(stacks.plan(app.name, app.cluster, app, prepared))
    except PlacementError as exc:
        raise prepared.masker.error(stacks.explain(exc)) from exc
    the_plan["nothing_changes"] = changes_nothing(current, text, values, the_plan)
    extra = _strategy_params(app, the_plan, strategy, canary, rollback_to)
    the_plan["strategy"] = strategy
    if strategy != "rolling":  # the new version starts beside the old one, all at once: no batches
        for item in the_plan["services"]:
            item.pop("rolling", None)
    if dry_run:
        return the_plan
    if the_plan["nothing_changes"]:
        raise NothingToChange({"detail": [NOTHING_TO_CHANGE]})
    with transaction.atomic():
        app = Application.objects.select_for_update().get(pk=app.pk)
        authorize(actor, action, app)
        kind = Release.Kind.ROLLBACK if rollback_to else Release.Kind.UPDATE
        release = _start_release(actor, app, kind, {"from_version": current.number, **extra})
        stacks.write_services(app, prepared.services)
        version = stacks.add_version(app, text, values, actor, note=note)
        rolled = {"to_version": rollback_to} if rollback_to else {}
        audit.record(
            action,
            actor=actor,
            resource=app.resource_name,
            target=app.name,
            cluster_id=app.cluster_id,
            parameters={"version": version.number, "variables": sorted(values), "release": release.pk, **rolled},
            outcome=audit.OperationLog.Outcome.ACCEPTED,
        )
    return release


def _strategy_params(
    app: Application, the_plan: dict[str, Any], strategy: str, canary: dict[str, Any] | None, rollback_to: int | None
) -> dict[str, Any]:
    """The release parameters of ``strategy`` for this plan (none for a rolling update), or a 400 saying why not."""
    if strategy == "rolling" and canary is None:
        return {}
    if rollback_to:
        raise ValidationError({"strategy": [_("A rollback is rolling; release the earlier version as an update.")]})
    if strategy == "rolling":
        raise ValidationError({"canary": [_("Canary settings go with the canary strategy, not rolling.")]})
    check = STRATEGIES.get(strategy)
    if check is None:
        choices = ", ".join(["rolling", *sorted(STRATEGIES)])
        raise ValidationError(
            {"strategy": [_("No release strategy %(s)s: choose %(c)s.") % {"s": strategy, "c": choices}]}
        )
    params, problems = check(app, the_plan, canary)
    if problems:
        raise ValidationError({"strategy": problems})
    return params


def rollback_application(
    actor: Any, app: Application, number: int | None = None, *, dry_run: bool = False
) -> dict[str, Any] | Release:
    """Restore exactly a previous version (its template text and variables) as a new version: the plan with
    ``dry_run``, else a release of kind rollback."""
    authorize(actor, "cs:RollbackApplication", app)
    versions = app.versions.order_by("-number")
    target = versions.filter(number=number).first() if number else versions[1:2].first()
    if target is None:
        raise ValidationError({"version": [_("No such earlier version.")]})
    return update_application(
        actor,
        app,
        compose=target.compose,
        variables=stacks.version_variables(target),
        note=f"rollback to v{target.number}",
        pins=target.digests,
        dry_run=dry_run,
        rollback_to=target.number,
    )


def scale_service(actor: Any, app: Application, service_name: str, scale: int, *, reason: str = "") -> Release:
    """Change one service's number of containers (``reason``: why the auto scaler decided it; in the release's
    parameters and first event, and in the operation log)."""
    authorize(actor, "cs:ScaleService", app)
    if not isinstance(scale, int) or not 0 <= scale <= MAX_SCALE:
        raise ValidationError({"scale": [_("Choose between 0 and %(max)s containers.") % {"max": MAX_SCALE}]})
    service = app.services.filter(name=service_name).first()
    if service is None:
        raise ValidationError({"service": [_("No service %(name)s in this application.") % {"name": service_name}]})
    if service.is_global:
        raise ValidationError({"scale": [_("A global service runs one container on every node.")]})
    check_policy(actor, app)  # more containers of a spec the primary account made are still the sub-account's
    with transaction.atomic():
        _lock(app)  # a start, update or scale at the same moment waits: one active release, the scale read after it
        authorize(actor, "cs:ScaleService", app)
        service = Service.objects.get(pk=service.pk)
        why = {"auto": True, "reason": reason} if reason else {}
        release = _start_release(
            actor, app, Release.Kind.SCALE, {"service": service_name, "from": service.scale, "to": scale, **why}
        )
        if reason:
            said = ReleaseEvent.objects.create(release=release, application=app, message=reason)
            live.publish("application", app.pk, said.as_live())  # an open application page shows why, at once
        Service.objects.filter(pk=service.pk).update(scale=scale)
        audit.record(
            "cs:ScaleService",
            actor=actor,
            resource=app.resource_name,
            target=app.name,  # as every entry of the application, the task's that ends the release too
            cluster_id=app.cluster_id,
            parameters={"service": service_name, "from": service.scale, "to": scale, "release": release.pk, **why},
            outcome=audit.OperationLog.Outcome.ACCEPTED,
            source="system" if reason else None,
        )
    return release


def kill_application(actor: Any, app: Application) -> Release:
    """SIGKILL every container."""
    return _lifecycle(actor, app, Release.Kind.KILL, "cs:KillApplication")


def redeploy_application(actor: Any, app: Application) -> Release:
    """Pull every image again (same tags) and recreate every container."""
    authorize(actor, "cs:RedeployApplication", app)
    check_policy(actor, app)
    return _lifecycle(actor, app, Release.Kind.REDEPLOY, "cs:RedeployApplication", {"from_version": app.version})


def check_policy(actor: Any, app: Application) -> None:
    """Refuse when the cluster's security policy forbids ``actor`` what the application's services run.

    A scale, a redeploy or a start (which recreates vanished containers) makes containers from the stored
    services; by a sub-account, they must be within its policy even when the primary account made them (as a
    rollback to the primary account's version is). The release checks the same before it makes any container
    (``releases.within_policy``); here the refusal is a 400 and nothing is queued.
    """
    refused = stacks.policy_refusals(actor, app.cluster, stacks.stored_model(app), app.name)
    if refused:
        masker = stacks.masker_of(app)
        raise ValidationError({"compose": [masker.text(r) for r in refused]})


def delete_application_with(actor: Any, app: Application, *, remove_volumes: bool) -> Release:
    """Delete, keeping or removing the application's named volumes."""
    return _lifecycle(actor, app, Release.Kind.DELETE, "cs:DeleteApplication", {"remove_volumes": remove_volumes})


CONTAINER_ACTIONS = {"restart": "cs:RestartContainer", "stop": "cs:StopContainer", "remove": "cs:RemoveContainer"}


def container_action(actor: Any, app: Application, container_name: str, action: str) -> Release:
    """Restart, stop or remove one container of the application (a small release of its own)."""
    if action not in CONTAINER_ACTIONS:
        raise ValidationError({"action": [_("Choose restart, stop or remove.")]})
    if not app.services.filter(containers__name=container_name).exists():
        raise ValidationError(
            {"container": [_("No container %(name)s in this application.") % {"name": container_name}]}
        )
    return _lifecycle(
        actor, app, Release.Kind.CONTAINER, CONTAINER_ACTIONS[action], {"container": container_name, "action": action}
    )
