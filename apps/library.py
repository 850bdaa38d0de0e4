"""The template library (the tenant's templates and the public samples) and config sets: their use cases (one
function each: create, update, delete, validate; the operations of templates and config sets as
``apps.operations`` holds those of applications) and what the pages and the API show of them.

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
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import NAME_VALIDATOR
from accounts.permissions import authorize, authorize_tenant
from apps import compose, operations
from apps.models import Application, ConfigSet, Template
from clusters.pki import seal
from console import audit

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
CONFIG_VARIABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
"""The name of a config set's variable."""
TEMPLATE_TAKEN = gettext_lazy("A template with this name already exists.")
CONFIG_SET_TAKEN = gettext_lazy("A config set with this name already exists.")


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


# --- use cases: one function each, called by the pages and the API alike ---------------------------------------
# Each authorizes (a refusal is on record, outcome denied), validates, writes in one transaction (authorizing again
# inside it) and records the operation log. Names are unique in the tenant in the database too: a write that meets
# another of the same name (two requests at once) is the same 400 as the check before it.


def template_resource(tenant_id: int, name: str) -> str:
    """``acs:cs:*:<tenant>:template/<name>``."""
    return f"acs:cs:*:{tenant_id}:template/{name}"


def config_set_resource(tenant_id: int, name: str) -> str:
    """``acs:cs:*:<tenant>:configset/<name>``."""
    return f"acs:cs:*:{tenant_id}:configset/{name}"


def _check_name(name: str) -> None:
    try:
        NAME_VALIDATOR(name)
    except ValidationError as exc:
        raise ValidationError({"name": exc.messages}) from exc


def _save(row: Template | ConfigSet, taken: str) -> None:
    """Save ``row``; the name constraint of its tenant refused it: ValidationError ``taken``."""
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError as exc:
        raise ValidationError({"name": [taken]}) from exc


def validate(actor: Any, text: str, variables: dict[str, str] | None = None) -> dict[str, Any]:
    """Check a Compose text as a template editor does (``cs:CreateTemplate``): the model, or ValidationError.

    Nothing is written, so nothing is logged. The loader bounds what the text may cost (its size, and what aliases,
    variables, ``extends`` and port ranges expand it to), so neither the work nor the answer grows past a few times
    the request.
    """
    authorize_tenant(actor, "cs:CreateTemplate", template_resource(actor.tenant_id, "*"))
    return check(text, variables, strict=bool(variables))


def _write_template(actor: Any, action: str, template: Template, name: str, text: str, description: str) -> Template:
    _check_name(name)
    text = operations.unix_newlines(text)
    others = Template.objects.filter(tenant_id=actor.tenant_id, name=name).exclude(pk=template.pk)
    if others.exists():
        raise ValidationError({"name": [TEMPLATE_TAKEN]})
    check(text)
    before = template.name
    with transaction.atomic():
        if template.pk:
            authorize(actor, action, template)  # again inside the transaction: grants may have changed
        else:
            authorize_tenant(actor, action, template_resource(actor.tenant_id, name))
        template.name, template.compose, template.description = name, text, description
        _save(template, TEMPLATE_TAKEN)
        audit.record(
            action,
            actor=actor,
            resource=template_resource(actor.tenant_id, name),
            target=name,
            parameters={"renamed_from": before} if before and before != name else {},
        )
    return template


def create_template(actor: Any, *, name: str, compose_text: str, description: str = "") -> Template:
    """A template of the actor's tenant, after its Compose text loads (unset parameters allowed)."""
    authorize_tenant(actor, "cs:CreateTemplate", template_resource(actor.tenant_id, name))
    template = Template(tenant_id=actor.tenant_id, created_by=actor)
    return _write_template(actor, "cs:CreateTemplate", template, name, compose_text, description)


def update_template(actor: Any, template: Template, *, name: str, compose_text: str, description: str = "") -> Template:
    """Change a template's name, text or description (its text checked as on creation)."""
    authorize(actor, "cs:UpdateTemplate", template)
    return _write_template(actor, "cs:UpdateTemplate", template, name, compose_text, description)


def delete_template(actor: Any, template: Template) -> None:
    """Delete a template; the applications made from it keep running (they keep their own versions)."""
    authorize(actor, "cs:DeleteTemplate", template)
    name = template.name
    with transaction.atomic():
        authorize(actor, "cs:DeleteTemplate", template)
        template.delete()
        audit.record("cs:DeleteTemplate", actor=actor, resource=template_resource(actor.tenant_id, name), target=name)


def _seal_variables(items: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in items.items():
        if not isinstance(item, dict):
            item = {"value": str(item), "secret": False}
        secret = bool(item.get("secret"))
        value = item.get("value")
        if value is None and secret and key in previous:  # a secret not typed again keeps its value
            out[key] = previous[key]
            continue
        value = "" if value is None else operations.unix_newlines(str(value))
        out[key] = {"value": seal(value, secret=settings.BERTH_ENCRYPTION_KEY) if secret else value, "secret": secret}
    return out


def shown(config_set: ConfigSet) -> dict[str, Any]:
    """A config set's variables as they may be shown: secret values never."""
    return {
        k: {"value": None if v.get("secret") else v["value"], "secret": bool(v.get("secret"))}
        for k, v in (config_set.variables or {}).items()
    }


def users_of(config_set: ConfigSet) -> list[str]:
    """The names of the live applications that use the config set."""
    return list(config_set.applications.filter(deleted_at__isnull=True).values_list("name", flat=True))


def _write_config_set(
    actor: Any, action: str, config_set: ConfigSet, name: str, variables: dict[str, Any], description: str
) -> tuple[ConfigSet, list[str]]:
    _check_name(name)
    others = ConfigSet.objects.filter(tenant_id=actor.tenant_id, name=name).exclude(pk=config_set.pk)
    if others.exists():
        raise ValidationError({"name": [CONFIG_SET_TAKEN]})
    bad = [k for k in variables if not CONFIG_VARIABLE_RE.match(str(k))]
    if bad:
        raise ValidationError({"variables": [_("%(k)s is not a variable name.") % {"k": ", ".join(bad)}]})
    before = config_set.name
    with transaction.atomic():
        if config_set.pk:
            authorize(actor, action, config_set)  # again inside the transaction: grants may have changed
        else:
            authorize_tenant(actor, action, config_set_resource(actor.tenant_id, name))
        config_set.name, config_set.description = name, description
        config_set.variables = _seal_variables(variables, config_set.variables or {})
        _save(config_set, CONFIG_SET_TAKEN)
        renamed = {"renamed_from": before} if before and before != name else {}
        audit.record(
            action,
            actor=actor,
            resource=config_set_resource(actor.tenant_id, name),
            target=name,
            parameters={
                "variables": sorted(config_set.variables),  # names only
                "sealed": sorted(k for k, v in config_set.variables.items() if v.get("secret")),
                **renamed,
            },
        )
    return config_set, users_of(config_set)


def create_config_set(
    actor: Any, *, name: str, variables: dict[str, Any], description: str = ""
) -> tuple[ConfigSet, list[str]]:
    """A config set of the actor's tenant (secret values sealed); returns it and the applications that use it."""
    authorize_tenant(actor, "cs:CreateConfigSet", config_set_resource(actor.tenant_id, name))
    config_set = ConfigSet(tenant_id=actor.tenant_id)
    return _write_config_set(actor, "cs:CreateConfigSet", config_set, name, variables, description)


def update_config_set(
    actor: Any, config_set: ConfigSet, *, name: str, variables: dict[str, Any], description: str = ""
) -> tuple[ConfigSet, list[str]]:
    """Change a config set (a secret sent without a value keeps its value); returns it and the names of the
    applications that use it, which run with the old values until they are redeployed (``redeploy_users``)."""
    authorize(actor, "cs:UpdateConfigSet", config_set)
    return _write_config_set(actor, "cs:UpdateConfigSet", config_set, name, variables, description)


def delete_config_set(actor: Any, config_set: ConfigSet) -> None:
    """Delete a config set that no live application uses (refused, and on record as a failure, otherwise).

    The config set's row is locked while the check and the delete run, and a Compose deploy locks it while it
    makes an application that uses it, so neither sees the other half done.
    """
    action = "cs:DeleteConfigSet"
    authorize(actor, action, config_set)
    name, resource = config_set.name, config_set_resource(actor.tenant_id, config_set.name)
    try:
        with transaction.atomic():
            authorize(actor, action, config_set)
            list(ConfigSet.objects.select_for_update().filter(pk=config_set.pk).values_list("pk", flat=True))
            users = users_of(config_set)
            if users:
                raise ValidationError(
                    {"name": [_("Applications still use this config set: %(apps)s.") % {"apps": ", ".join(users)}]}
                )
            config_set.delete()
            audit.record(action, actor=actor, resource=resource, target=name)
    except ValidationError as exc:
        audit.record(
            action,
            actor=actor,
            resource=resource,
            target=name,
            outcome=audit.OperationLog.Outcome.FAILURE,
            error="; ".join(exc.messages),
        )
        raise


def redeploy_users(actor: Any, config_set: ConfigSet) -> list[int]:
    """Apply the config set's current values to every application using it that ``actor`` may update (one update
    release each, logged by ``update_application``); returns the releases."""
    released = []
    for app in Application.objects.visible_to(actor, "cs:UpdateApplication").filter(
        config_set=config_set, deleted_at__isnull=True
    ):
        try:
            release = operations.update_application(actor, app, note=f"config set {config_set.name} changed")
        except operations.NothingToChange:  # the values it uses did not change: nothing to release
            continue
        released.append(release.pk)
    return released
