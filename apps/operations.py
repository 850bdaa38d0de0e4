"""Use cases of applications: one function each, called by views, the API, commands and tasks alike.

Each authorizes, validates, writes the desired state, records the operation log and enqueues
the long work after the transaction commits.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import NAME_VALIDATOR
from accounts.permissions import authorize
from apps.models import Application, Release, Service
from clusters.models import Cluster
from console import audit

# A Docker image reference: [registry[:port]/]path[:tag][@sha256:digest]
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"(?:localhost|{_LABEL}(?:\.{_LABEL})+|{_LABEL}(?=:[0-9]))(?::[0-9]+)?"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_RE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_PATH}(?:/{_PATH})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?(?:@sha256:[a-f0-9]{{64}})?$"
)
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
MAX_SCALE = 100


class OperationConflict(Exception):
    """Another long operation of the same object is still active."""


@dataclass
class ImageAppSpec:
    """What a user gives to deploy an application from one image."""

    name: str
    image: str
    command: str = ""
    scale: int = 1
    environment: dict[str, str] = field(default_factory=dict)
    container_port: int | None = None
    host_port: int | None = None
    description: str = ""


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


def validate_spec(spec: ImageAppSpec) -> tuple[list[str] | None, dict[str, str]]:
    """Check every field; raise ValidationError with one message per bad field. Returns (argv, env)."""
    errors: dict[str, list[str]] = {}

    def bad(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    try:
        NAME_VALIDATOR(spec.name)
    except ValidationError as exc:
        bad("name", exc.messages[0])
    if not spec.image or len(spec.image) > 255 or not IMAGE_RE.match(spec.image):
        bad("image", _("Not a valid image reference (for example nginx:1.25 or registry:5000/team/app:v2)."))
    argv: list[str] | None = None
    if spec.command.strip():
        try:
            argv = shlex.split(spec.command)
        except ValueError as exc:
            bad("command", _("Cannot parse the command: %(reason)s.") % {"reason": exc})
    if not isinstance(spec.scale, int) or not 1 <= spec.scale <= MAX_SCALE:
        bad("scale", _("Choose between 1 and %(max)s containers.") % {"max": MAX_SCALE})
    for key, value in spec.environment.items():
        if not ENV_KEY_RE.match(key) or len(key) > 255:
            bad("environment", _("%(key)s is not a valid variable name.") % {"key": key[:50]})
        if "\x00" in str(value):
            bad("environment", _("The value of %(key)s contains a NUL character.") % {"key": key[:50]})
    for field_name, port in (("container_port", spec.container_port), ("host_port", spec.host_port)):
        if port is not None and not 1 <= port <= 65535:
            bad(field_name, _("A port is a number from 1 to 65535."))
    if spec.host_port is not None and spec.container_port is None:
        bad("host_port", _("Give the container port that the host port publishes."))
    if errors:
        raise ValidationError(errors)
    return argv, {k: str(v) for k, v in spec.environment.items()}


def _start_release(actor: Any, app: Application, kind: str) -> Release:
    """Create the release row (refusing when another is active) and enqueue it after commit."""
    from apps.tasks import run_release

    if Release.objects.filter(application=app, status__in=Release.ACTIVE).exists():
        raise OperationConflict(_("Another operation on %(app)s is still in progress.") % {"app": app.name})
    from console import context

    release = Release.objects.create(
        application=app,
        kind=kind,
        actor=actor,
        request_id=context.request_id.get(),
        source=context.source.get(),
    )
    transaction.on_commit(lambda: run_release.delay(release.pk))
    return release


def deploy_application(actor: Any, cluster: Cluster, spec: ImageAppSpec) -> Release:
    """Create an application of one service from an image, and deploy it."""
    authorize(actor, "cs:CreateApplication", cluster)
    try:
        argv, env = validate_spec(spec)
        with transaction.atomic():
            authorize(actor, "cs:CreateApplication", cluster)  # re-checked inside the transaction
            if Application.objects.filter(cluster=cluster, name=spec.name, deleted_at__isnull=True).exists():
                raise ValidationError({"name": _("An application with this name already exists in the cluster.")})
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
            app = Application.objects.create(
                tenant=cluster.tenant, cluster=cluster, name=spec.name, description=spec.description, created_by=actor
            )
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
                    "environment": env,
                    "container_port": spec.container_port,
                    "host_port": spec.host_port,
                    "release": release.pk,
                },
                outcome=audit.OperationLog.Outcome.ACCEPTED,
            )
            return release
    except ValidationError as exc:
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


def _lifecycle(actor: Any, app: Application, kind: str, action: str) -> Release:
    authorize(actor, action, app)
    try:
        with transaction.atomic():
            app = Application.objects.select_for_update().get(pk=app.pk)
            authorize(actor, action, app)  # re-checked inside the transaction: grants may have changed
            if app.deleted_at is not None or app.status == Application.Status.DELETED:
                raise OperationConflict(_("%(app)s has been deleted.") % {"app": app.name})
            release = _start_release(actor, app, kind)
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
    """Start every container of the application (recreating any that vanished)."""
    return _lifecycle(actor, app, Release.Kind.START, "cs:StartApplication")


def stop_application(actor: Any, app: Application) -> Release:
    """Stop every container gracefully."""
    return _lifecycle(actor, app, Release.Kind.STOP, "cs:StopApplication")


def restart_application(actor: Any, app: Application) -> Release:
    """Restart every container."""
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
