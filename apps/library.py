"""The template library (the tenant's templates and the public samples) and config sets.

Templates are checked on save: the Compose loader must accept them with their defaults (unset
parameters allowed there); the errors point at the service and key. Config sets hold variables;
secret values are sealed and never shown back; changing one lists the applications that use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import NAME_VALIDATOR
from accounts.permissions import authorize, authorize_tenant
from apps import compose
from apps.models import Application, ConfigSet, Template
from console import audit

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
CONFIG_VARIABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
"""The name of a config set's variable."""


@dataclass(frozen=True)
class Sample:
    """A public sample template shipped with Berth."""

    name: str
    description: str
    compose: str


def samples() -> list[Sample]:
    """The public samples (files in apps/samples/), read-only for everyone."""
    found = []
    for path in sorted(SAMPLES_DIR.glob("*.yml")):
        text = path.read_text()
        first = text.splitlines()[0].lstrip("# ").strip() if text.startswith("#") else ""
        found.append(Sample(path.stem, first, text))
    return found


def sample(name: str) -> Sample | None:
    return next((s for s in samples() if s.name == name), None)


def check(text: str, variables: dict[str, str] | None = None, *, strict: bool = False) -> dict[str, Any]:
    """The normalized model of a template, or ValidationError({"compose": [service.key: problem, ...]}).

    Without ``strict``, parameters that have no value yet (required ones included) get a placeholder,
    so a template is checked for its structure before anyone fills its form.
    """
    env = dict(variables or {})
    if not strict:
        try:
            for item in compose.variables(text):
                if item.name not in env and item.default is None:
                    env[item.name] = "placeholder"
        except compose.ComposeError as exc:
            raise ValidationError({"compose": [str(p) for p in exc.errors]}) from exc
    try:
        return compose.load(text, env=env, project="template", strict_variables=strict)
    except compose.ComposeError as exc:
        raise ValidationError({"compose": [str(p) for p in exc.errors]}) from exc


def validate(actor: Any, text: str, variables: dict[str, str] | None = None) -> dict[str, Any]:
    """Check a Compose text as a template editor does (``cs:CreateTemplate``): the model, or ValidationError.

    The loader bounds what the text may cost (its size, and what aliases, variables, ``extends`` and port
    ranges expand it to), so neither the work nor the answer grows past a few times the request.
    """
    authorize_tenant(actor, "cs:CreateTemplate", f"acs:cs:*:{actor.tenant_id}:template/*")
    return check(text, variables, strict=bool(variables))


def parameters(text: str) -> list[dict[str, Any]]:
    """The template's ${VAR} parameters as form fields: name, default, required, message."""
    try:
        found = compose.variables(text)
    except compose.ComposeError:
        return []
    return [{"name": v.name, "default": v.default, "required": v.required, "message": v.message} for v in found]


def graph(model: dict[str, Any]) -> dict[str, Any]:
    """Services and their dependencies, for the picture on the template page."""
    nodes = []
    edges = []
    for name, service in (model.get("services") or {}).items():
        nodes.append({"name": name, "image": service.get("image"), "scale": compose.service_scale(model, name)})
        for dep in service.get("depends_on") or {}:
            edges.append({"from": name, "to": dep})
    return {"services": nodes, "depends": edges}


def save_template(
    actor: Any, *, name: str, compose_text: str, description: str = "", template: Template | None = None
) -> Template:
    """Create or update a template of the actor's tenant after checking it."""
    action = "cs:UpdateTemplate" if template else "cs:CreateTemplate"
    if template:
        authorize(actor, action, template)
    else:
        authorize_tenant(actor, action, f"acs:cs:*:{actor.tenant_id}:template/{name}")
    try:
        NAME_VALIDATOR(name)
    except ValidationError as exc:
        raise ValidationError({"name": exc.messages}) from exc
    others = Template.objects.filter(tenant_id=actor.tenant_id, name=name)
    if template:
        others = others.exclude(pk=template.pk)
    if others.exists():
        raise ValidationError({"name": [_("A template with this name already exists.")]})
    check(compose_text)
    with transaction.atomic():
        template = template or Template(tenant_id=actor.tenant_id, created_by=actor)
        template.name, template.compose, template.description = name, compose_text, description
        template.save()
        audit.record(action, actor=actor, resource=f"acs:cs:*:{actor.tenant_id}:template/{name}", target=name)
    return template


def delete_template(actor: Any, template: Template) -> None:
    authorize(actor, "cs:DeleteTemplate", template)
    name = template.name
    template.delete()
    audit.record("cs:DeleteTemplate", actor=actor, resource=f"acs:cs:*:{actor.tenant_id}:template/{name}", target=name)


def _seal_variables(items: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    from clusters.pki import seal

    out: dict[str, Any] = {}
    for key, item in items.items():
        if not isinstance(item, dict):
            item = {"value": str(item), "secret": False}
        secret = bool(item.get("secret"))
        value = item.get("value")
        if value is None and secret and key in previous:  # a secret not typed again keeps its value
            out[key] = previous[key]
            continue
        value = "" if value is None else str(value)
        out[key] = {"value": seal(value, secret=settings.BERTH_ENCRYPTION_KEY) if secret else value, "secret": secret}
    return out


def shown(config_set: ConfigSet) -> dict[str, Any]:
    """A config set's variables as they may be shown: secret values never."""
    return {
        k: {"value": None if v.get("secret") else v["value"], "secret": bool(v.get("secret"))}
        for k, v in (config_set.variables or {}).items()
    }


def save_config_set(
    actor: Any, *, name: str, variables: dict[str, Any], description: str = "", config_set: ConfigSet | None = None
) -> tuple[ConfigSet, list[str]]:
    """Create or change a config set; returns it and the names of the applications that use it."""
    action = "cs:UpdateConfigSet" if config_set else "cs:CreateConfigSet"
    if config_set:
        authorize(actor, action, config_set)
    else:
        authorize_tenant(actor, action, f"acs:cs:*:{actor.tenant_id}:configset/{name}")
    try:
        NAME_VALIDATOR(name)
    except ValidationError as exc:
        raise ValidationError({"name": exc.messages}) from exc
    others = ConfigSet.objects.filter(tenant_id=actor.tenant_id, name=name)
    if config_set:
        others = others.exclude(pk=config_set.pk)
    if others.exists():
        raise ValidationError({"name": [_("A config set with this name already exists.")]})
    bad = [k for k in variables if not CONFIG_VARIABLE_RE.match(str(k))]
    if bad:
        raise ValidationError({"variables": [_("%(k)s is not a variable name.") % {"k": ", ".join(bad)}]})
    with transaction.atomic():
        config_set = config_set or ConfigSet(tenant_id=actor.tenant_id)
        config_set.name, config_set.description = name, description
        config_set.variables = _seal_variables(variables, config_set.variables or {})
        config_set.save()
        audit.record(
            action,
            actor=actor,
            resource=f"acs:cs:*:{actor.tenant_id}:configset/{name}",
            target=name,
            parameters={
                "variables": sorted(config_set.variables),  # names only
                "sealed": sorted(k for k, v in config_set.variables.items() if v.get("secret")),
            },
        )
    users = list(
        Application.objects.filter(config_set=config_set, deleted_at__isnull=True).values_list("name", flat=True)
    )
    return config_set, users


def redeploy_users(actor: Any, config_set: ConfigSet) -> list[int]:
    """Apply the config set's current values to every application using it (one update release each)."""
    from apps.operations import update_application

    released = []
    for app in Application.objects.visible_to(actor, "cs:UpdateApplication").filter(
        config_set=config_set, deleted_at__isnull=True
    ):
        released.append(update_application(actor, app, note=f"config set {config_set.name} changed").pk)
    return released
