"""Use cases of tenants, users and access keys."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import AccessKey, Tenant, User
from console import audit


def create_tenant(*, name: str, alias: str, admin: str, password: str) -> User:
    """Create a tenant and its primary account; the first tenant also gets the "local" cluster."""
    if Tenant.objects.filter(alias=alias).exists():
        raise ValidationError({"alias": _("A tenant with this alias already exists.")})
    tenant = Tenant(name=name, alias=alias)
    tenant.full_clean()
    probe = User(tenant=tenant, name=admin, login=f"{admin}@{alias}")
    validate_password(password, user=probe)
    first = not Tenant.objects.exists()
    with transaction.atomic():
        tenant.save()
        user = User.objects.create_user(tenant, admin, password, is_primary=True)
        audit.record(
            "ram:CreateTenant",
            actor=user,
            tenant=tenant,
            resource=f"acs:ram:*:{tenant.pk}:root",
            target=tenant.alias,
            parameters={"name": name, "alias": alias, "admin": admin},
        )
    if first:
        from clusters.operations import ensure_local_cluster

        ensure_local_cluster(tenant, actor=user)
    return user


def create_access_key(actor: Any, user: User) -> tuple[AccessKey, str]:
    """Issue an access key for ``user`` (at most two each); the secret is returned once and never stored."""
    from accounts.permissions import authorize_tenant

    if actor.tenant_id != user.tenant_id:
        raise ValidationError(_("Unknown user."))
    if actor.pk != user.pk:
        authorize_tenant(actor, "ram:CreateAccessKey")
    with transaction.atomic():
        if AccessKey.objects.filter(user=user).count() >= AccessKey.MAX_PER_USER:
            raise ValidationError(_("A user holds at most %(n)s access keys.") % {"n": AccessKey.MAX_PER_USER})
        key, secret = AccessKey.objects.issue(user)
        audit.record(
            "ram:CreateAccessKey",
            actor=actor,
            resource=f"acs:ram:*:{user.tenant_id}:user/{user.name}",
            target=key.key_id,
            parameters={"user": user.name},
        )
    return key, secret


def delete_access_key(actor: Any, key: AccessKey) -> None:
    """Delete an access key of the actor's tenant."""
    from accounts.permissions import authorize_tenant

    if actor.tenant_id != key.tenant_id:
        raise ValidationError(_("Unknown access key."))
    if actor.pk != key.user_id:
        authorize_tenant(actor, "ram:DeleteAccessKey")
    key_id, user_name = key.key_id, key.user.name
    key.delete()
    audit.record(
        "ram:DeleteAccessKey", actor=actor, resource=f"acs:ram:*:{actor.tenant_id}:user/{user_name}", target=key_id
    )
