"""The decision core of permissions: who may do what, and which rows a user sees.

* ``Model.objects.visible_to(user, action)`` narrows a queryset to what the user may see, in SQL: the policies'
  resource patterns become conditions on the resource name the database builds (``ResourceColumns``), so a list
  or a single-object check costs one query whatever the number of rows (``permission_filter``).
* ``decide(user, action, resource)`` is the decision with its reason for one resource (the door's checks of an
  action on one object, the policy simulator); the SQL filter and ``decide`` agree row by row (property-tested).

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
from django.db.models import F, Func, Q, TextField, Value
from django.db.models.lookups import Exact, Lookup
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


# --- the decision in SQL ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceColumns:
    """How the rows of a queryset name their RAM resource in SQL: the name and the names of what contains it, as
    the database builds them (``resource_text``), and the paths of the row's cluster and creator (cluster roles;
    the developer's "own" actions). The SQL counterpart of ``Resource``."""

    name: Any
    ancestors: tuple[Any, ...] = ()
    cluster: str | None = None
    owner: str | None = None


class Joined(Func):
    """Text joined by the database (``||``), each part as text: fields of the row that are never NULL, and literal
    text. A flat expression, unlike ``Concat``'s nested pairs with ``COALESCE``: a filter names it several times
    (once per pattern and name), and a small tree is quick to compile."""

    output_field = TextField()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        pieces, params = [], []
        for part in self.get_source_expressions():
            sql, part_params = compiler.compile(part)
            pieces.append(f"CAST({sql} AS TEXT)")
            params.extend(part_params)
        return "(" + " || ".join(pieces) + ")", params


def resource_text(*parts: str | F | Any) -> Joined:
    """A resource name built by the database from literal text and fields (numbers as decimal text), e.g.
    ``resource_text("acs:cs:", F("region"), ":", F("tenant_id"), ":cluster/", F("pk"))``."""
    return Joined(*(Value(part) if isinstance(part, str) else part for part in parts))


# A resource pattern as matching sees it: literal text, "*" (any run of characters) and "?" (one character).
ANY, ONE = "*", "?"
Part = tuple[str, str]  # ("text", "...") | (ANY, "") | (ONE, "")


def pattern_parts(pattern: str, current_user: str | None, *, deny: bool) -> tuple[Part, ...] | None:
    """A Resource pattern of a statement as wildcard parts, as ``accounts.policy`` matches it: each
    ``${acs:CurrentUser}`` stands for the current user's name taken literally; without a current user the variable
    matches nothing in an Allow (None) and stands for any name in a Deny."""
    has_variable = ram_policy.CURRENT_USER_VARIABLE in pattern
    if has_variable and current_user is None:
        if not deny:
            return None
        pattern, has_variable = pattern.replace(ram_policy.CURRENT_USER_VARIABLE, "*"), False
    pieces = pattern.split(ram_policy.CURRENT_USER_VARIABLE) if has_variable else [pattern]
    parts: list[Part] = []

    def text(value: str) -> None:
        if parts and parts[-1][0] == "text":
            parts[-1] = ("text", parts[-1][1] + value)
        elif value:
            parts.append(("text", value))

    for number, piece in enumerate(pieces):
        if number:
            text(current_user or "")
        for char in piece:
            if char in (ANY, ONE):
                parts.append((char, ""))
            else:
                text(char)
    return tuple(parts)


def _glob(parts: tuple[Part, ...]) -> str:
    """SQLite's GLOB pattern (case-sensitive; ``[c]`` quotes a special character)."""
    special = {"*": "[*]", "?": "[?]", "[": "[[]"}
    return "".join("".join(special.get(c, c) for c in value) if kind == "text" else kind for kind, value in parts)


def _like(parts: tuple[Part, ...]) -> str:
    """A LIKE pattern with ``\\`` as its escape (PostgreSQL's default; case-sensitive there)."""
    special = {"\\": "\\\\", "%": "\\%", "_": "\\_"}  # literal in the name: only the pattern's wildcards match
    wildcard = {ANY: "%", ONE: "_"}
    return "".join(
        "".join(special.get(c, c) for c in value) if kind == "text" else wildcard[kind] for kind, value in parts
    )


class Wildcard(Lookup):
    """``lhs`` (text) matches a policy wildcard pattern given as ``pattern_parts``, case-sensitively and whole, as
    ``accounts.policy.match`` does: GLOB on SQLite (whose LIKE ignores case), LIKE elsewhere."""

    lookup_name = "berth_wildcard"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs_sql, params = self.process_lhs(compiler, connection)
        if connection.vendor == "sqlite":
            return f"{lhs_sql} GLOB %s", [*params, _glob(self.rhs)]
        return f"{lhs_sql} LIKE %s", [*params, _like(self.rhs)]


Clause = Q | bool


def _any(clauses: Iterable[Clause]) -> Clause:
    """OR of clauses, where True and False are the constants."""
    found: Q | None = None
    for clause in clauses:
        if clause is True:
            return True
        if clause is False:
            continue
        found = clause if found is None else found | clause
    return False if found is None else found


def _matching(column: Any, parts: tuple[Part, ...]) -> Clause:
    if parts and all(kind == ANY for kind, _value in parts):
        return True  # "*": every name
    if all(kind == "text" for kind, _value in parts):
        return Q(Exact(column, parts[0][1] if parts else ""))
    return Q(Wildcard(column, parts))


def _roles_clause(user: Any, who: Principal, action: str, columns: ResourceColumns) -> Clause:
    """The rows a cluster role of the user allows ``action`` on (``_role_allows``, for every cluster at once)."""
    if columns.cluster is None:
        return False
    full, own = [], []
    for cluster_id, slugs in who.roles.items():
        roles = [ROLES[slug] for slug in slugs]
        if any(ram_policy.action_matches(p, action) for role in roles for p in role.actions):
            full.append(cluster_id)
        elif columns.owner and any(ram_policy.action_matches(p, action) for role in roles for p in role.own_actions):
            own.append(cluster_id)
    clauses: list[Clause] = []
    if full:
        clauses.append(Q(**{f"{columns.cluster}__in": sorted(full)}))
    if own:
        clauses.append(Q(**{f"{columns.cluster}__in": sorted(own), columns.owner: user.pk}))
    return _any(clauses)


def permission_filter(
    user: Any, action: str, columns: ResourceColumns, context: dict[str, Any] | None = None
) -> Clause:
    """The rows a sub-account may do ``action`` on, as a condition on ``columns`` (True: all, False: none).

    It is ``decide`` for every row at once. What depends on the request (the action, the conditions: address,
    MFA, time…) is decided once per statement here; what depends on the row (the resource name and its ancestors,
    the cluster, the creator) becomes SQL: a Deny statement that applies excludes the rows whose name or an
    ancestor's matches one of its patterns; an Allow statement, or a cluster role, admits rows the same way.
    """
    who = principal(user)
    ctx = {str(key).lower(): value for key, value in {**request_context(user), **(context or {})}.items()}
    current_user = ctx.get(ram_policy.CURRENT_USER_KEY)
    current_user = current_user if isinstance(current_user, str) and current_user else None
    names = (columns.name, *columns.ancestors)
    denies: list[Clause] = []
    allows: list[Clause] = []
    for attached in who.policies:
        for statement in attached.document.statements:
            deny = statement.effect == "Deny"
            if not any(ram_policy.action_matches(p, action) for p in statement.actions):
                continue
            if not all(ram_policy.condition_holds(c, ctx, deny=deny) for c in statement.conditions):
                continue
            for pattern in statement.resources:
                parts = pattern_parts(pattern, current_user, deny=deny)
                if parts is not None:
                    (denies if deny else allows).extend(_matching(column, parts) for column in names)
    denied = _any(denies)
    if denied is True:
        return False
    allowed = _any([*allows, _roles_clause(user, who, action, columns)])
    if allowed is False or denied is False:
        return allowed
    return ~denied if allowed is True else ~denied & allowed


def permitted(queryset: models.QuerySet, user: Any, action: str, columns: ResourceColumns) -> models.QuerySet:
    """``queryset`` narrowed to the rows a sub-account may do ``action`` on (``permission_filter``)."""
    condition = permission_filter(user, action, columns)
    if condition is True:
        return queryset
    if condition is False:
        return queryset.none()
    return queryset.filter(condition)


class TenantQuerySet(models.QuerySet):
    """A queryset of tenant-owned rows. Subclasses name the path to the tenant, the read action, and how a row's
    RAM resource is named: in SQL (``resource_columns``, what ``visible_to`` filters on) and in Python
    (``resource_rows``, what ``decide`` is asked for one object)."""

    tenant_path = "tenant"
    read_action = "cs:Describe*"

    def resource_columns(self) -> ResourceColumns:
        """The resource name of a row in SQL; subclasses with resource names override it."""
        raise TypeError(f"{self.model.__name__} has no RAM resource of its own")

    def resource_rows(self) -> Iterable[tuple[int, Resource]]:
        """(pk, Resource) of every row; subclasses with resource names override it."""
        raise TypeError(f"{self.model.__name__} has no RAM resource of its own")

    def visible_to(self, user: User | Any, action: str | None = None) -> TenantQuerySet:
        """A user can see a row when it is in the user's tenant and the action on the row is allowed.

        The tenant boundary comes first and is SQL, as the rest is (``permission_filter``): one query, however many
        rows the tenant has.
        """
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        scoped = self.filter(**{self.tenant_path: user.tenant_id})
        if user.is_primary:
            return scoped
        return permitted(scoped, user, action or self.read_action, self.resource_columns())


def resource_of(obj: models.Model) -> Resource:
    """The RAM resource of one object (through its queryset's ``resource_rows``)."""
    rows = dict(type(obj)._default_manager.filter(pk=obj.pk).resource_rows())
    return rows[obj.pk]
