"""Tenants' registry credentials: stored sealed, never shown again, used only for pulls on the tenant's own nodes.

Berth never pulls with the credentials of its own process (``~/.docker/config.json``, credential helpers):
``docker_host`` asks :func:`auth_for_node` and sends ``X-Registry-Auth`` only with the credential of the node's
tenant for the image's registry. Operations here authorize, validate, write and record the operation log; the
password never reaches the log, the API or a page.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.permissions import authorize, authorize_tenant
from clusters import pki
from clusters.models import RegistryCredential, registry_resource
from console import audit

_HOST = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
_PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
REGISTRY_RE = re.compile(rf"^{_HOST}(:\d{{1,5}})?$")
REGISTRY_INPUT = rf"^(https?://)?{_HOST}(:{_PORT})?(/[^\s\x00]*)?$"
"""What :func:`normalize_registry` reads (in any case): ``[http(s)://]host[:port][/path]``, a port of 1-65535."""
ONE_LINE_RE = re.compile(r"^[^\n]*\Z")
DOCKER_HUB = "docker.io"
HUB_ALIASES = ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com", "docker.io")
HUB_SERVER = "https://index.docker.io/v1/"


def normalize_registry(text: str) -> str:
    """``host[:port]`` in lower case, without a scheme or path; Docker Hub's names become ``docker.io``."""
    value = (text or "").strip().lower()
    value = re.sub(r"^https?://", "", value).split("/", 1)[0]
    if value in HUB_ALIASES:
        return DOCKER_HUB
    if not REGISTRY_RE.match(value) or len(value) > 255:
        raise ValidationError(
            {"registry": [_("A registry host name, optionally with a port (registry.example.com:5000).")]}
        )
    if ":" in value and not 1 <= int(value.rsplit(":", 1)[1]) <= 65535:
        raise ValidationError({"registry": [_("The port must be 1-65535.")]})
    return value


def _clean_username(username: Any) -> str:
    if not isinstance(username, str) or not username.strip() or len(username) > 255 or not ONE_LINE_RE.match(username):
        raise ValidationError({"username": [_("A user name of at most 255 characters.")]})
    return username.strip()


def _clean_password(password: Any) -> str:
    if not isinstance(password, str) or not password or len(password) > 4096:
        raise ValidationError({"password": [_("A password or token of at most 4096 characters.")]})
    return password


def auth_for_node(node_id: int, registry: str) -> dict[str, str] | None:
    """The credential a pull on node ``node_id`` may send to ``registry``: its tenant's own, or None."""
    try:
        registry = normalize_registry(registry)
    except ValidationError:
        return None
    found = RegistryCredential.objects.filter(tenant__clusters__nodes__pk=node_id, registry=registry).first()
    if found is None:
        return None
    password = pki.unseal(found.password_sealed, secret=settings.BERTH_ENCRYPTION_KEY)
    server = HUB_SERVER if registry == DOCKER_HUB else registry
    return {"username": found.username, "password": password, "serveraddress": server}


def create_credential(actor: Any, *, registry: str, username: str, password: str) -> RegistryCredential:
    """Store the tenant's credential for one registry (one per registry)."""
    registry = normalize_registry(registry)
    authorize_tenant(actor, "cs:CreateRegistryCredential", registry_resource(actor.tenant_id, registry))
    username, password = _clean_username(username), _clean_password(password)
    if RegistryCredential.objects.filter(tenant_id=actor.tenant_id, registry=registry).exists():
        raise ValidationError({"registry": [_("There is already a credential for this registry; change it.")]})
    try:
        with transaction.atomic():
            made = RegistryCredential.objects.create(
                tenant_id=actor.tenant_id,
                registry=registry,
                username=username,
                password_sealed=pki.seal(password, secret=settings.BERTH_ENCRYPTION_KEY),
                created_by=actor,
            )
            audit.record(
                "cs:CreateRegistryCredential",
                actor=actor,
                resource=made.resource_name,
                target=registry,
                parameters={"registry": registry, "username": username},
            )
    except IntegrityError as exc:
        raise ValidationError({"registry": [_("There is already a credential for this registry; change it.")]}) from exc
    return made


def update_credential(
    actor: Any, credential: RegistryCredential, *, username: str | None = None, password: str | None = None
) -> RegistryCredential:
    """Change the user name and/or the password (the password is replaced, never read back)."""
    authorize(actor, "cs:UpdateRegistryCredential", credential)
    changes: dict[str, Any] = {}
    if username is not None:
        credential.username = changes["username"] = _clean_username(username)
    if password is not None:
        credential.password_sealed = pki.seal(_clean_password(password), secret=settings.BERTH_ENCRYPTION_KEY)
        changes["changed"] = ["password"]
    with transaction.atomic():
        authorize(actor, "cs:UpdateRegistryCredential", credential)
        credential.save()
        audit.record(
            "cs:UpdateRegistryCredential",
            actor=actor,
            resource=credential.resource_name,
            target=credential.registry,
            parameters=changes,
        )
    return credential


def delete_credential(actor: Any, credential: RegistryCredential) -> None:
    """Forget the tenant's credential for one registry."""
    authorize(actor, "cs:DeleteRegistryCredential", credential)
    with transaction.atomic():
        authorize(actor, "cs:DeleteRegistryCredential", credential)
        resource, registry = credential.resource_name, credential.registry
        credential.delete()
        audit.record("cs:DeleteRegistryCredential", actor=actor, resource=resource, target=registry)
