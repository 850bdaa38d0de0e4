"""The decision core of permissions: who may do what, and which rows a user sees.

* ``Model.objects.visible_to(user, action)`` narrows a queryset to what the user may see.
* ``decide(user, action, resource)`` is the decision with its reason (the policy simulator shows it).

Effective permission = same tenant AND (primary account OR allowed by a policy OR granted by a
cluster role) AND no explicit Deny in the user's or its groups' policies. A statement on a
cluster also covers what is inside it (applications, nodes, containers, releases).

The door that acts on these decisions (``authorize``, refusals and their record) is
``accounts.permissions``; this module writes nothing, so that models of every layer can build on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils import timezone

from accounts import policy as ram_policy
from accounts.roles import ROLE_BY_CODENAME, ROLE_ORDER, ROLES
from console import context

if TYPE_CHECKING:
    from accounts.models import User


@dataclass(frozen=True)
class Resource:
    """What an action is on: its RAM name, the names of what contains it, and facts roles need."""

    name: str
    ancestors: tuple[str, ...] = ()
    cluster_id: int | None = None
    owner_id: int | None = None


@dataclass(frozen=True)
class Verdict:
    """A decision and why: ``reason`` names the statement, the grant, or the primary account."""

    allowed: bool
    reason: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"decision": "allow" if self.allowed else "deny", "reason": self.reason}


@dataclass
class Principal:
    """A sub-account's attached policies (own and groups') and cluster roles, loaded once per user object."""

    policies: list[ram_policy.Attached]
    roles: dict[int, list[str]]  # cluster id -> role slugs (directly or through a group)


def request_context(user: Any) -> dict[str, Any]:
    """The condition keys of the current request (ContextVars set by the middleware, or by the websocket
    consumer from its connection). An address that is not known is left out: a Deny that depends on it applies.
    """
    keys: dict[str, Any] = {
        "acs:MFAPresent": context.mfa_present.get(),
        "acs:SecureTransport": context.secure_transport.get(),
        "acs:CurrentTime": timezone.now(),
        "acs:CurrentUser": getattr(user, "name", ""),
    }
    if context.source_ip.get():
        keys["acs:SourceIp"] = context.source_ip.get()
    return keys


def load_principal(user: Any) -> Principal:
    """Read the user's policies and grants from the database."""
    return load_principals([user])[user.pk]


def load_principals(users: Iterable[Any]) -> dict[int, Principal]:
    """Read the policies and grants of several users at once, in a constant number of queries (lists that judge
    many users, such as the certificates of a cluster)."""
    from django.contrib.auth.models import Group as AuthGroup

    from accounts.models import ClusterGroupObjectPermission, ClusterUserObjectPermission, PolicyAttachment

    users = list(users)
    ids = [user.pk for user in users]
    memberships: dict[int, set[int]] = {pk: set() for pk in ids}
    for user_id, group_id in AuthGroup.user_set.through.objects.filter(user_id__in=ids).values_list(
        "user_id", "group_id"
    ):
        memberships[user_id].add(group_id)
    groups = set().union(*memberships.values()) if memberships else set()
    attachments = list(
        PolicyAttachment.objects.filter(tenant_id__in={user.tenant_id for user in users})
        .filter(models.Q(user_id__in=ids) | models.Q(group__auth_group_id__in=groups))
        .select_related("policy", "group")
        .prefetch_related("policy__versions")
        .order_by("id")
    )
    user_rows = list(
        ClusterUserObjectPermission.objects.filter(user_id__in=ids).values_list(
            "user_id", "content_object_id", "permission__codename"
        )
    )
    group_rows = list(
        ClusterGroupObjectPermission.objects.filter(group_id__in=groups).values_list(
            "group_id", "content_object_id", "permission__codename"
        )
    )
    found: dict[int, Principal] = {}
    for user in users:
        mine = memberships[user.pk]
        policies = []
        for attachment in attachments:
            if attachment.tenant_id != user.tenant_id:
                continue
            if attachment.user_id != user.pk and (
                attachment.group is None or attachment.group.auth_group_id not in mine
            ):
                continue
            pol = attachment.policy
            version = next((v for v in pol.versions.all() if v.number == pol.default_version), None)
            if version is None:
                continue
            try:
                document = ram_policy.parse(version.document)
            except ram_policy.PolicyError:
                continue  # stored documents were validated; a broken one grants nothing
            via = "user" if attachment.user_id else f"group:{attachment.group.name}"
            policies.append(ram_policy.Attached(pol.name, f"v{version.number}", document, via))
        grants = [(c, n) for uid, c, n in user_rows if uid == user.pk]
        grants += [(c, n) for gid, c, n in group_rows if gid in mine]
        roles: dict[int, list[str]] = {}
        for cluster_id, codename in grants:
            role = ROLE_BY_CODENAME.get(codename)
            if role is not None and role.slug not in roles.setdefault(cluster_id, []):
                roles[cluster_id].append(role.slug)
        for slugs in roles.values():
            slugs.sort(key=ROLE_ORDER.index)
        found[user.pk] = Principal(policies, roles)
    return found


def principal(user: Any) -> Principal:
    """The user's principal, cached on the user object (a request's or a task's lifetime)."""
    cached = getattr(user, "_berth_principal", None)
    if cached is None:
        cached = load_principal(user)
        user._berth_principal = cached
    return cached


def forget_principal(user: Any) -> None:
    """Drop the cached principal (after its policies or grants changed)."""
    if hasattr(user, "_berth_principal"):
        del user._berth_principal


def _role_allows(roles: Iterable[str], action: str, resource: Resource, user: Any) -> str | None:
    for slug in roles:
        role = ROLES[slug]
        if any(ram_policy.action_matches(p, action) for p in role.actions):
            return slug
        if resource.owner_id == user.pk and any(ram_policy.action_matches(p, action) for p in role.own_actions):
            return slug
    return None


def decide(user: Any, action: str, resource: Resource | str, context: dict[str, Any] | None = None) -> Verdict:
    """The decision for ``user`` doing ``action`` on ``resource`` (tenant boundary checked by the caller)."""
    if isinstance(resource, str):
        resource = Resource(resource)
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Verdict(False, {"type": "unauthenticated"})
    if user.is_primary:
        return Verdict(True, {"type": "primary-account"})
    ctx = {**request_context(user), **(context or {})}
    who = principal(user)
    names = (resource.name, *resource.ancestors)
    allowed: ram_policy.Decision | None = None
    for name in names:
        decision = ram_policy.evaluate(who.policies, action, name, ctx)
        if decision.effect == "Deny":
            return Verdict(False, {"type": "policy", **decision.as_dict(), "resource": name})
        if decision.allowed and allowed is None:
            allowed = decision
    if allowed is not None:
        return Verdict(True, {"type": "policy", **allowed.as_dict()})
    if resource.cluster_id is not None:
        role = _role_allows(who.roles.get(resource.cluster_id, []), action, resource, user)
        if role is not None:
            return Verdict(True, {"type": "grant", "role": role, "cluster": resource.cluster_id})
    return Verdict(False, {"type": "implicit-deny"})


def may(user: Any, action: str, resource: Resource | str) -> bool:
    """Shorthand for ``decide(...).allowed``."""
    return decide(user, action, resource).allowed


def is_allowed(user: Any, action: str, resource: Resource | str = "*") -> bool:
    """Whether ``user`` may perform a tenant-wide ``action`` (resource ``*`` unless given)."""
    return may(user, action, resource)


class TenantQuerySet(models.QuerySet):
    """A queryset of tenant-owned rows. Subclasses name the path to the tenant, the read action, and
    how a row's RAM resource is built (``resource_rows``) when a sub-account's policies must be evaluated."""

    tenant_path = "tenant"
    read_action = "cs:Describe*"

    def resource_rows(self) -> Iterable[tuple[int, Resource]]:
        """(pk, Resource) of every row; subclasses with resource names override it."""
        raise TypeError(f"{self.model.__name__} has no RAM resource of its own")

    def visible_to(self, user: User | Any, action: str | None = None) -> TenantQuerySet:
        """A user can see a row when it is in the user's tenant and the action on the row is allowed."""
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        scoped = self.filter(**{self.tenant_path: user.tenant_id})
        if user.is_primary:
            return scoped
        wanted = action or self.read_action
        allowed = [pk for pk, resource in scoped.resource_rows() if may(user, wanted, resource)]
        return scoped.filter(pk__in=allowed)


def resource_of(obj: models.Model) -> Resource:
    """The RAM resource of one object (through its queryset's ``resource_rows``)."""
    rows = dict(type(obj)._default_manager.filter(pk=obj.pk).resource_rows())
    return rows[obj.pk]
