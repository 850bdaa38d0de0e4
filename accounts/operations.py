"""Use cases of tenants, users, groups, policies, grants and access keys (RAM).

Each authorizes the actor through the permission door (``ram:*`` actions on
``acs:ram:*:<tenant>:<kind>/<name>`` resources, ``cs:GrantPermissions`` on clusters; refusals are on
record), validates, writes, and records the operation log. Names given by callers are always resolved
inside the actor's tenant, and an operation on a user, group or policy applies one rule (``_require_on``):
never another tenant's, and nobody but the primary account itself touches its credentials.

Alibaba's model is kept where it is deliberate: a sub-account allowed ``ram:CreatePolicyVersion`` on a
policy attached to itself, or ``ram:AttachPolicyToUser`` on itself, or ``ram:UpdateLoginProfile`` /
``ram:CreateAccessKey`` on a more privileged sub-account, can raise its own permissions; such actions
are administrator actions and should be granted as such.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import permissions
from accounts import policy as ram_policy
from accounts.models import (
    USERNAME_VALIDATOR,
    AccessKey,
    Policy,
    PolicyAttachment,
    PolicyVersion,
    RamGroup,
    Tenant,
    User,
)
from accounts.roles import ROLES
from console import audit


def ram_resource(tenant_id: int, kind: str, name: str) -> str:
    """``acs:ram:*:<tenant-id>:<kind>/<name>``."""
    return f"acs:ram:*:{tenant_id}:{kind}/{name}"


# Operations on a user's credentials. The primary account's are touched by the primary account alone.
CREDENTIAL_ACTIONS = frozenset(
    {
        "ram:ChangePassword",
        "ram:UpdateLoginProfile",
        "ram:CreateAccessKey",
        "ram:UpdateAccessKey",
        "ram:DeleteAccessKey",
        "ram:CreateVirtualMFADevice",
        "ram:DeleteVirtualMFADevice",
    }
)
# What every user may do to itself without a policy (its own access keys need the self-service policy).
SELF_SERVICE_ACTIONS = frozenset({"ram:ChangePassword", "ram:CreateVirtualMFADevice", "ram:DeleteVirtualMFADevice"})


def _require_on(actor: Any, action: str, subject: User | RamGroup | Policy) -> None:
    """The one rule for operations on a user, group or custom policy (through the permission door).

    * Only the actor's own tenant: another tenant's user, group or policy is not found (and nothing of it is
      written in the refusal);
    * nobody but the primary account itself touches its credentials (password, login profile, access keys,
      MFA), whatever policies say;
    * every user may change its own password and turn its own MFA on or off;
    * everything else needs ``action`` allowed on the subject's RAM resource.
    """
    shared = isinstance(subject, Policy) and subject.tenant_id is None  # a system policy
    if subject.tenant_id != actor.tenant_id and not shared:
        permissions.refuse(actor, action, not_found=True)
    if isinstance(subject, Policy):
        resource = ram_resource(actor.tenant_id, "policy", subject.name)
    else:
        resource = subject.resource_name
    if isinstance(subject, User):
        own = subject.pk == actor.pk
        if action in CREDENTIAL_ACTIONS and subject.is_primary and not own:
            permissions.refuse(
                actor,
                action,
                resource=subject.resource_name,
                target=subject.login,
                message=_("Only the primary account itself may change its password, access keys or MFA."),
            )
        if own and action in SELF_SERVICE_ACTIONS:
            return
    permissions.authorize_tenant(actor, action, resource, target=str(subject))


def check_password(tenant: Tenant, password: str, user: User | None = None) -> None:
    """The tenant's password policy, then Django's checks (common passwords, similarity to the name)."""
    problems = tenant.password_problems(password)
    if problems:
        raise ValidationError({"password": problems})
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc


# --- tenants ---------------------------------------------------------------------------------------


FIRST_TENANT_GETS: list[Callable[[Tenant, User], Any]] = []
"""What the first tenant gets besides its primary account, after its transaction: the layers above add to it when
Django starts (clusters: the "local" cluster of this machine's own engine, ``clusters.apps``)."""


def is_first_tenant() -> bool:
    """True while no tenant exists (decided before the tenant's transaction: two setups may both see True)."""
    return not Tenant.objects.exists()


def create_tenant(*, name: str, alias: str, admin: str, password: str) -> User:
    """Create a tenant and its primary account; the first tenant also gets what ``FIRST_TENANT_GETS`` gives it (the
    "local" cluster)."""
    if Tenant.objects.filter(alias=alias).exists():
        raise ValidationError({"alias": _("A tenant with this alias already exists.")})
    tenant = Tenant(name=name, alias=alias)
    tenant.full_clean()
    USERNAME_VALIDATOR(admin)
    check_password(tenant, password, User(tenant=tenant, name=admin, login=f"{admin}@{alias}"))
    first = is_first_tenant()
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
        for give in FIRST_TENANT_GETS:
            give(tenant, user)
    return user


def set_password_policy(actor: Any, **rules: Any) -> Tenant:
    """Change the tenant's password policy (length 6-64, which character classes are required)."""
    tenant = actor.tenant
    permissions.authorize_tenant(actor, "ram:SetPasswordPolicy", f"acs:ram:*:{tenant.pk}:*")
    allowed = {
        "password_min_length",
        "password_require_upper",
        "password_require_lower",
        "password_require_digit",
        "password_require_symbol",
    }
    unknown = set(rules) - allowed
    if unknown:
        raise ValidationError({k: [_("Unknown field.")] for k in sorted(unknown)})
    length = rules.get("password_min_length", tenant.password_min_length)
    if not isinstance(length, int) or not 6 <= length <= 64:
        raise ValidationError({"password_min_length": [_("Choose a length from 6 to 64.")]})
    for key, value in rules.items():
        setattr(tenant, key, value)
    tenant.save()
    audit.record(
        "ram:SetPasswordPolicy", actor=actor, resource=f"acs:ram:*:{tenant.pk}:*", target=tenant.alias, parameters=rules
    )
    return tenant


# --- users -----------------------------------------------------------------------------------------


def find_user(actor: Any, name: str, action: str | None = None) -> User:
    """The user ``name`` of the actor's tenant on which the actor may do ``action`` (``ram:GetUser`` unless
    given); ``Http404``, a refusal on record, otherwise."""
    return permissions.visible_object(actor, User.objects.all(), action, name=name)


def find_group(actor: Any, name: str, action: str | None = None) -> RamGroup:
    """The group ``name`` of the actor's tenant on which the actor may do ``action`` (``ram:ListGroups`` unless
    given); ``Http404``, a refusal on record, otherwise."""
    return permissions.visible_object(actor, RamGroup.objects.select_related("auth_group"), action, name=name)


def create_subaccount(actor: Any, *, name: str, password: str, display_name: str = "") -> User:
    """Create a RAM user (sub-account) with a console password."""
    tenant = actor.tenant
    resource = ram_resource(tenant.pk, "user", name)
    permissions.authorize_tenant(actor, "ram:CreateUser", resource, target=name)
    try:
        USERNAME_VALIDATOR(name)
    except ValidationError as exc:
        raise ValidationError({"name": exc.messages}) from exc
    if User.objects.filter(tenant=tenant, name=name).exists():
        raise ValidationError({"name": [_("A user with this name already exists.")]})
    check_password(tenant, password, User(tenant=tenant, name=name, login=f"{name}@{tenant.alias}"))
    with transaction.atomic():
        user = User.objects.create_user(tenant, name, password, display_name=display_name[:100])
        audit.record(
            "ram:CreateUser",
            actor=actor,
            resource=resource,
            target=user.login,
            parameters={"name": name, "display_name": display_name, "password": password},
        )
    return user


def update_subaccount(actor: Any, user: User, *, display_name: str | None = None, active: bool | None = None) -> User:
    """Rename for display, or disable/enable sign-in (a disabled user's access keys stop working too)."""
    _require_on(actor, "ram:UpdateUser", user)
    if user.is_primary and active is False:
        raise ValidationError({"active": [_("The primary account cannot be disabled.")]})
    changes: dict[str, Any] = {}
    if display_name is not None:
        user.display_name = display_name[:100]
        changes["display_name"] = user.display_name
    if active is not None:
        user.is_active = active
        changes["active"] = active
    user.save()
    audit.record("ram:UpdateUser", actor=actor, resource=user.resource_name, target=user.login, parameters=changes)
    return user


def change_password(actor: Any, user: User, password: str, *, current: str | None = None) -> None:
    """Set a console password: one's own (knowing the current one) or another user's (``ram:UpdateLoginProfile``)."""
    own = actor.pk == user.pk
    action = "ram:ChangePassword" if own else "ram:UpdateLoginProfile"
    _require_on(actor, action, user)  # everyone may change their own password (knowing the current one)
    if own and (current is None or not user.check_password(current)):
        raise ValidationError({"current": [_("The current password is wrong.")]})
    check_password(user.tenant, password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    audit.record(action, actor=actor, resource=user.resource_name, target=user.login)


def delete_subaccount(actor: Any, user: User) -> None:
    """Delete a sub-account; its grants, attachments and access keys go with it."""
    _require_on(actor, "ram:DeleteUser", user)
    if user.is_primary:
        raise ValidationError({"name": [_("The primary account cannot be deleted.")]})
    login, resource = user.login, user.resource_name
    with transaction.atomic():
        user.delete()
        audit.record("ram:DeleteUser", actor=actor, resource=resource, target=login)


# --- groups ----------------------------------------------------------------------------------------


def _members(actor: Any, names: list[str]) -> list[User]:
    found = {u.name: u for u in User.objects.filter(tenant_id=actor.tenant_id, name__in=names)}
    missing = [n for n in names if n not in found]
    if missing:
        raise ValidationError({"members": [_("Unknown user: %(names)s.") % {"names": ", ".join(missing)}]})
    return [found[n] for n in names]


def create_group(actor: Any, *, name: str, description: str = "", members: list[str] | None = None) -> RamGroup:
    """Create a RAM group, optionally with members."""
    tenant = actor.tenant
    resource = ram_resource(tenant.pk, "group", name)
    permissions.authorize_tenant(actor, "ram:CreateGroup", resource, target=name)
    try:
        USERNAME_VALIDATOR(name)
    except ValidationError as exc:
        raise ValidationError({"name": exc.messages}) from exc
    if RamGroup.objects.filter(tenant=tenant, name=name).exists():
        raise ValidationError({"name": [_("A group with this name already exists.")]})
    users = _members(actor, members or [])
    with transaction.atomic():
        auth_group = AuthGroup.objects.create(name=f"{tenant.pk}:{name}")
        group = RamGroup.objects.create(tenant=tenant, name=name, description=description, auth_group=auth_group)
        auth_group.user_set.add(*users)
        audit.record(
            "ram:CreateGroup",
            actor=actor,
            resource=resource,
            target=name,
            parameters={"members": [u.name for u in users]},
        )
    return group


def update_group(
    actor: Any,
    group: RamGroup,
    *,
    name: str | None = None,
    description: str | None = None,
    members: list[str] | None = None,
) -> RamGroup:
    """Rename a group, change its description, or set its members."""
    _require_on(actor, "ram:UpdateGroup", group)
    changes: dict[str, Any] = {}
    with transaction.atomic():
        if name is not None and name != group.name:
            try:
                USERNAME_VALIDATOR(name)
            except ValidationError as exc:
                raise ValidationError({"name": exc.messages}) from exc
            if RamGroup.objects.filter(tenant_id=group.tenant_id, name=name).exists():
                raise ValidationError({"name": [_("A group with this name already exists.")]})
            changes["name"] = [group.name, name]
            group.name = name
            group.auth_group.name = f"{group.tenant_id}:{name}"
            group.auth_group.save()
        if description is not None:
            group.description = description
            changes["description"] = description
        group.save()
        if members is not None:
            users = _members(actor, members)
            group.auth_group.user_set.set(users)
            changes["members"] = [u.name for u in users]
        audit.record(
            "ram:UpdateGroup", actor=actor, resource=group.resource_name, target=group.name, parameters=changes
        )
    return group


def add_member(actor: Any, group: RamGroup, user: User) -> None:
    _require_on(actor, "ram:AddUserToGroup", group)
    if user.tenant_id != group.tenant_id:
        raise ValidationError({"members": [_("Unknown user.")]})
    group.auth_group.user_set.add(user)
    audit.record(
        "ram:AddUserToGroup",
        actor=actor,
        resource=group.resource_name,
        target=group.name,
        parameters={"user": user.name},
    )


def remove_member(actor: Any, group: RamGroup, user: User) -> None:
    _require_on(actor, "ram:RemoveUserFromGroup", group)
    group.auth_group.user_set.remove(user)
    audit.record(
        "ram:RemoveUserFromGroup",
        actor=actor,
        resource=group.resource_name,
        target=group.name,
        parameters={"user": user.name},
    )


def delete_group(actor: Any, group: RamGroup) -> None:
    """Delete a group; its members stay, its attachments and grants go."""
    _require_on(actor, "ram:DeleteGroup", group)
    name, resource = group.name, group.resource_name
    with transaction.atomic():
        group.auth_group.delete()  # cascades to the RAM group, its grants and attachments
        audit.record("ram:DeleteGroup", actor=actor, resource=resource, target=name)


# --- policies --------------------------------------------------------------------------------------


def ensure_system_policies() -> None:
    """Create or refresh the system policies (run after migrations; idempotent)."""
    for name, spec in ram_policy.SYSTEM_POLICIES.items():
        pol, _created = Policy.objects.update_or_create(
            tenant=None,
            name=name,
            defaults={"kind": Policy.Kind.SYSTEM, "description": spec["description"], "default_version": 1},
        )
        PolicyVersion.objects.update_or_create(policy=pol, number=1, defaults={"document": spec["document"]})


def _parse(document: Any) -> None:
    try:
        ram_policy.validate(document)
    except ram_policy.PolicyError as exc:
        raise ValidationError({"document": [str(exc)]}) from exc


def find_policy(actor: Any, name: str, action: str | None = None) -> Policy:
    """A system policy or one of the actor's tenant's custom policies, by name, on which the actor may do
    ``action`` (``ram:ListPolicies`` unless given); ``Http404``, a refusal on record, otherwise."""
    return permissions.visible_object(actor, Policy.objects.order_by("-tenant_id"), action, name=name)


def create_policy(actor: Any, *, name: str, document: Any, description: str = "") -> Policy:
    """Create a custom policy; its document becomes v1, the default version."""
    tenant = actor.tenant
    resource = ram_resource(tenant.pk, "policy", name)
    permissions.authorize_tenant(actor, "ram:CreatePolicy", resource, target=name)
    try:
        USERNAME_VALIDATOR(name)
    except ValidationError as exc:
        raise ValidationError({"name": exc.messages}) from exc
    if (
        Policy.objects.filter(name=name).filter(tenant__isnull=True).exists()
        or Policy.objects.filter(tenant=tenant, name=name).exists()
    ):
        raise ValidationError({"name": [_("A policy with this name already exists.")]})
    _parse(document)
    with transaction.atomic():
        pol = Policy.objects.create(tenant=tenant, name=name, description=description, kind=Policy.Kind.CUSTOM)
        PolicyVersion.objects.create(policy=pol, number=1, document=document)
        audit.record("ram:CreatePolicy", actor=actor, resource=resource, target=name, parameters={"document": document})
    return pol


def _custom(pol: Policy) -> None:
    if pol.kind == Policy.Kind.SYSTEM:
        raise ValidationError({"name": [_("System policies cannot be changed.")]})


def add_policy_version(actor: Any, pol: Policy, document: Any, *, set_default: bool = True) -> PolicyVersion:
    """Add a version (at most 5 are kept: the oldest version that is not the default makes room)."""
    resource = ram_resource(actor.tenant_id, "policy", pol.name)
    _require_on(actor, "ram:CreatePolicyVersion", pol)
    _custom(pol)
    _parse(document)
    with transaction.atomic():
        versions = list(pol.versions.order_by("number"))
        rotated = None
        if len(versions) >= ram_policy.MAX_VERSIONS:
            oldest = next(v for v in versions if v.number != pol.default_version)
            rotated = oldest.label
            oldest.delete()
        version = PolicyVersion.objects.create(policy=pol, number=versions[-1].number + 1, document=document)
        if set_default:
            pol.default_version = version.number
            pol.save(update_fields=["default_version", "updated_at"])
        audit.record(
            "ram:CreatePolicyVersion",
            actor=actor,
            resource=resource,
            target=f"{pol.name} {version.label}",
            parameters={"document": document, "set_default": set_default, "rotated": rotated},
        )
    return version


def set_default_version(actor: Any, pol: Policy, number: int) -> None:
    resource = ram_resource(actor.tenant_id, "policy", pol.name)
    _require_on(actor, "ram:SetDefaultPolicyVersion", pol)
    _custom(pol)
    if not pol.versions.filter(number=number).exists():
        raise ValidationError({"version": [_("No version v%(n)s.") % {"n": number}]})
    pol.default_version = number
    pol.save(update_fields=["default_version", "updated_at"])
    audit.record("ram:SetDefaultPolicyVersion", actor=actor, resource=resource, target=f"{pol.name} v{number}")


def delete_policy_version(actor: Any, pol: Policy, number: int) -> None:
    resource = ram_resource(actor.tenant_id, "policy", pol.name)
    _require_on(actor, "ram:DeletePolicyVersion", pol)
    _custom(pol)
    if number == pol.default_version:
        raise ValidationError({"version": [_("The default version cannot be deleted.")]})
    deleted, _rows = pol.versions.filter(number=number).delete()
    if not deleted:
        raise ValidationError({"version": [_("No version v%(n)s.") % {"n": number}]})
    audit.record("ram:DeletePolicyVersion", actor=actor, resource=resource, target=f"{pol.name} v{number}")


def delete_policy(actor: Any, pol: Policy) -> None:
    """Delete a custom policy that is attached to nobody."""
    resource = ram_resource(actor.tenant_id, "policy", pol.name)
    _require_on(actor, "ram:DeletePolicy", pol)
    _custom(pol)
    attached = list(pol.attachments.select_related("user", "group"))
    if attached:
        holders = ", ".join(a.user.name if a.user else f"group {a.group.name}" for a in attached)
        raise ValidationError({"name": [_("Detach it first from: %(holders)s.") % {"holders": holders}]})
    name = pol.name
    pol.delete()
    audit.record("ram:DeletePolicy", actor=actor, resource=resource, target=name)


def attach_policy(actor: Any, pol: Policy, *, user: User | None = None, group: RamGroup | None = None) -> None:
    """Attach a policy to a sub-account or a group of the actor's tenant."""
    target = user or group
    assert target is not None
    action = "ram:AttachPolicyToUser" if user else "ram:AttachPolicyToGroup"
    _require_on(actor, action, target)
    if pol.tenant_id not in (None, actor.tenant_id):
        raise ValidationError({"policy": [_("Unknown policy or principal.")]})
    if user is not None and user.is_primary:
        raise ValidationError(
            {"policy": [_("The primary account has every permission; attach policies to sub-accounts and groups.")]}
        )
    try:
        with transaction.atomic():
            PolicyAttachment.objects.create(tenant_id=actor.tenant_id, policy=pol, user=user, group=group)
    except IntegrityError as exc:
        raise ValidationError({"policy": [_("The policy is already attached.")]}) from exc
    audit.record(
        action, actor=actor, resource=target.resource_name, target=str(target), parameters={"policy": pol.name}
    )


def detach_policy(actor: Any, pol: Policy, *, user: User | None = None, group: RamGroup | None = None) -> None:
    target = user or group
    assert target is not None
    action = "ram:DetachPolicyFromUser" if user else "ram:DetachPolicyFromGroup"
    _require_on(actor, action, target)
    deleted, _rows = PolicyAttachment.objects.filter(
        policy=pol, user=user, group=group, tenant_id=actor.tenant_id
    ).delete()
    if not deleted:
        raise ValidationError({"policy": [_("The policy is not attached.")]})
    audit.record(
        action, actor=actor, resource=target.resource_name, target=str(target), parameters={"policy": pol.name}
    )


# --- cluster grants --------------------------------------------------------------------------------


def resolve_principal(actor: Any, principal: str) -> User | RamGroup:
    """``user:NAME`` or ``group:NAME`` inside the actor's tenant."""
    kind, _sep, name = principal.partition(":")
    if kind == "user":
        found: User | RamGroup | None = User.objects.filter(tenant_id=actor.tenant_id, name=name).first()
    elif kind == "group":
        found = RamGroup.objects.filter(tenant_id=actor.tenant_id, name=name).first()
    else:
        raise ValidationError({"principal": [_('Use "user:NAME" or "group:NAME".')]})
    if found is None:
        raise ValidationError({"principal": [_("Unknown %(kind)s %(name)s.") % {"kind": kind, "name": name}]})
    return found


def grant(actor: Any, principal: str, cluster: Any, role: str) -> User | RamGroup:
    """Give a sub-account or a group one role on one cluster (replacing any role it had there)."""
    permissions.authorize(actor, "cs:GrantPermissions", cluster)
    if role not in ROLES:
        raise ValidationError({"role": [_("Choose one of: %(roles)s.") % {"roles": ", ".join(ROLES)}]})
    holder = resolve_principal(actor, principal)
    if isinstance(holder, User) and holder.is_primary:
        raise ValidationError({"principal": [_("The primary account already has every permission.")]})
    with transaction.atomic():
        permissions.grant_role(holder if isinstance(holder, User) else holder.auth_group, role, cluster)
        audit.record(
            "cs:GrantPermissions",
            actor=actor,
            resource=cluster.resource_name,
            target=principal,
            cluster_id=cluster.pk,
            parameters={"principal": principal, "role": role},
        )
    return holder


def revoke(actor: Any, principal: str, cluster: Any) -> None:
    """Remove every role of a principal on a cluster."""
    permissions.authorize(actor, "cs:RevokePermissions", cluster)
    holder = resolve_principal(actor, principal)
    with transaction.atomic():
        permissions.revoke_roles(holder if isinstance(holder, User) else holder.auth_group, cluster)
        audit.record(
            "cs:RevokePermissions",
            actor=actor,
            resource=cluster.resource_name,
            target=principal,
            cluster_id=cluster.pk,
            parameters={"principal": principal},
        )


# --- simulator -------------------------------------------------------------------------------------


SIMULATED_ACTION = RegexValidator(":", gettext_lazy('An action looks like "cs:DeleteCluster".'))


def simulate(actor: Any, *, user_name: str, action: str, resource: str, context: dict[str, Any]) -> dict[str, Any]:
    """Decide as the permission core would for ``user_name``, with the given request context."""
    permissions.authorize_tenant(
        actor, "ram:SimulatePolicy", ram_resource(actor.tenant_id, "user", user_name), target=user_name
    )
    subject = User.objects.filter(tenant_id=actor.tenant_id, name=user_name).first()
    if subject is None:
        raise ValidationError({"user": [_("Unknown user %(name)s.") % {"name": user_name}]})
    if not isinstance(action, str) or not SIMULATED_ACTION.regex.search(action):
        raise ValidationError({"action": [SIMULATED_ACTION.message]})
    if not isinstance(context, dict):
        raise ValidationError({"context": [_("The context is an object of condition keys.")]})
    allowed_keys = {key.lower() for key in ram_policy.CONDITION_KEYS}
    unknown = [k for k in context if str(k).lower() not in allowed_keys]
    if unknown:
        raise ValidationError({"context": [_("Unknown condition key: %(k)s.") % {"k": ", ".join(map(str, unknown))}]})
    target = resource_for_simulation(actor.tenant_id, resource)
    if target is None:
        verdict = permissions.Verdict(False, {"type": "other-tenant"})
    else:
        verdict = permissions.decide(subject, action, target, context)
    audit.record(
        "ram:SimulatePolicy",
        actor=actor,
        resource=ram_resource(actor.tenant_id, "user", user_name),
        target=user_name,
        parameters={"action": action, "resource": resource, "decision": "allow" if verdict.allowed else "deny"},
    )
    return verdict.as_dict()


def resource_for_simulation(tenant_id: int, name: str) -> permissions.Resource | None:
    """A resource name as typed, with its cluster ancestor and id when it names one; None for another tenant's."""
    parts = name.split(":", 4)
    if len(parts) == 5 and parts[3] not in ("*", str(tenant_id)):
        return None
    found = re.match(r"^(acs:cs:[^:]*:[^:]*:cluster/(\d+))(/.*)?$", name)
    if not found:
        return permissions.Resource(name)
    cluster_name, cluster_id, rest = found.group(1), int(found.group(2)), found.group(3)
    if not Tenant.objects.filter(pk=tenant_id, clusters__pk=cluster_id).exists():  # the clusters' own relation
        return permissions.Resource(name)
    return permissions.Resource(name, (cluster_name,) if rest else (), cluster_id=cluster_id)


# --- access keys -----------------------------------------------------------------------------------


def create_access_key(actor: Any, user: User) -> tuple[AccessKey, str]:
    """Issue an access key for ``user`` (at most two each); the secret is returned once and never stored."""
    _require_on(actor, "ram:CreateAccessKey", user)
    with transaction.atomic():
        if AccessKey.objects.filter(user=user).count() >= AccessKey.MAX_PER_USER:
            raise ValidationError(_("A user holds at most %(n)s access keys.") % {"n": AccessKey.MAX_PER_USER})
        key, secret = AccessKey.objects.issue(user)
        audit.record(
            "ram:CreateAccessKey",
            actor=actor,
            resource=user.resource_name,
            target=key.key_id,
            parameters={"user": user.name},
        )
    return key, secret


def set_access_key_active(actor: Any, key: AccessKey, active: bool) -> None:
    """Disable or enable an access key."""
    _require_on(actor, "ram:UpdateAccessKey", key.user)
    AccessKey.objects.filter(pk=key.pk).update(is_active=active)
    key.is_active = active
    audit.record(
        "ram:UpdateAccessKey",
        actor=actor,
        resource=key.user.resource_name,
        target=key.key_id,
        parameters={"active": active},
    )


def delete_access_key(actor: Any, key: AccessKey) -> None:
    """Delete an access key of the actor's tenant."""
    _require_on(actor, "ram:DeleteAccessKey", key.user)
    resource = key.user.resource_name
    key_id = key.key_id
    key.delete()
    audit.record("ram:DeleteAccessKey", actor=actor, resource=resource, target=key_id)


# --- MFA -------------------------------------------------------------------------------------------


def begin_mfa(actor: Any, user: User) -> TOTPDevice:
    """Make a new, unconfirmed TOTP device for ``user`` (replacing an unconfirmed one); its key is shown once."""
    _require_on(actor, "ram:CreateVirtualMFADevice", user)
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="Berth", confirmed=False)


def confirm_mfa(actor: Any, user: User, code: str) -> TOTPDevice:
    """Confirm ``user``'s new device with a first code; from then on sign-in asks for one."""
    _require_on(actor, "ram:CreateVirtualMFADevice", user)
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None or not device.verify_token(code):
        raise ValidationError({"code": [_("Wrong or expired code; MFA is not enabled yet.")]})
    device.confirmed = True
    device.save()
    audit.record("ram:CreateVirtualMFADevice", actor=actor, resource=user.resource_name, target=user.login)
    return device


def disable_mfa(actor: Any, user: User, code: str | None = None) -> None:
    """Turn ``user``'s MFA off: one's own with a current code; another's (a reset) with the policy."""
    _require_on(actor, "ram:DeleteVirtualMFADevice", user)
    devices = list(TOTPDevice.objects.filter(user=user, confirmed=True))
    if actor.pk == user.pk and not (code and any(d.verify_token(code) for d in devices)):
        raise ValidationError({"code": [_("Wrong or expired code; MFA stays on.")]})
    TOTPDevice.objects.filter(user=user).delete()
    audit.record("ram:DeleteVirtualMFADevice", actor=actor, resource=user.resource_name, target=user.login)
