"""The permission door: every detail, change and subscription goes through it, and every refusal is on record.

* ``Model.objects.visible_to(user, action)`` narrows a queryset to what the user may see
  (``accounts.decisions``, re-exported here).
* ``visible_object(user, queryset, action, **lookup)`` is the one object a lookup names, or ``Http404``.
* ``permitted_object(user, queryset, action, **lookup)`` is the object a request that needs ``action`` names:
  ``Http404`` when the user may not see it, ``PermissionDenied`` when it may see it but not do ``action``
  (the lookup of every console page, ``accounts.pages.page_object``).
* ``authorize(user, action, obj)`` raises ``Http404`` when the user may not see ``obj`` at all
  (another tenant's object is never revealed) and ``PermissionDenied`` when it may see but not act.
* ``authorize_tenant(user, action, resource)`` does the same for tenant-wide actions (``PermissionDenied``).
* ``refuse(...)`` is the refusal itself, for rules of their own (the primary account's credentials).

Every refusal is an operation-log entry with outcome ``denied``, the actor and the action, in the actor's own
tenant (for another tenant's object, with nothing of that object: the target is what the caller asked for).
Operations authorize again inside ``transaction.atomic()``, and an entry written there would be rolled back
with the transaction that the refusal aborts. So inside :func:`refusals_recorded` (around every HTTP request
and every websocket message) a refusal is only noted, and written when the request ends, after every
transaction of it has ended; at most one entry is written per request. Outside such a scope (a command, a task,
a shell) the entry is written at once.

Only this module imports ``guardian.shortcuts``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404
from django.utils.translation import gettext as _

from accounts.decisions import (
    Principal,
    Resource,
    TenantQuerySet,
    Verdict,
    decide,
    forget_principal,
    is_allowed,
    load_principal,
    may,
    principal,
    request_context,
    resource_of,
)
from accounts.roles import ROLES, is_read_action
from console import audit, context

if TYPE_CHECKING:
    from accounts.models import User

__all__ = [
    "Principal",
    "Refusal",
    "Resource",
    "TenantQuerySet",
    "Verdict",
    "authorize",
    "authorize_tenant",
    "decide",
    "forget_principal",
    "grant_role",
    "is_allowed",
    "load_principal",
    "may",
    "note_refusal",
    "permitted_object",
    "principal",
    "refusals_recorded",
    "refuse",
    "request_context",
    "resource_of",
    "revoke_roles",
    "visible_object",
]

log = logging.getLogger(__name__)


# --- refusals --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """A request the door turned away: who, which action, and on what as far as the actor may know it.

    ``not_found`` refusals (404) of another tenant's object carry no resource or target of that object.
    """

    actor: Any
    action: str
    resource: str = ""
    target: str = ""
    cluster_id: int | None = None
    not_found: bool = False
    absent: bool = False
    """A 404 of something that does not exist at all: not a refusal, so never written (it is noted only so that
    the request's other recorders know the door answered it)."""


def _signed_in(user: Any) -> bool:
    return user is not None and bool(getattr(user, "is_authenticated", False)) and user.tenant_id is not None


def _write(refusal: Refusal, default_target: str = "") -> None:
    """Append the refusal to the actor's tenant log."""
    audit.record(
        refusal.action,
        actor=refusal.actor,
        resource=refusal.resource,
        target=refusal.target or default_target,
        cluster_id=refusal.cluster_id,
        parameters={"status": 404 if refusal.not_found else 403},
        outcome=audit.OperationLog.Outcome.DENIED,
        error=_("Not found or not permitted.") if refusal.not_found else _("Not permitted."),
    )


def note_refusal(refusal: Refusal) -> None:
    """Put a refusal on record: noted for the end of the current request, or written now outside one.

    A request keeps its first refusal only (one entry per refused request); anonymous callers have no tenant
    log to write to.
    """
    if not _signed_in(refusal.actor):
        return
    pending = context.refusals.get()
    if refusal.absent and pending is None:
        return
    if pending is None:
        _write(refusal)
    elif not pending:
        pending.append(refusal)


@contextmanager
def refusals_recorded(target: str = "") -> Iterator[list[Refusal]]:
    """Around one request (or websocket message): refusals noted inside are written when it ends.

    ``target`` (what the caller asked for, e.g. ``"POST /api/v1/…"``) stands in for refusals without one.
    """
    pending: list[Refusal] = []
    token = context.refusals.set(pending)
    try:
        yield pending
    finally:
        context.refusals.reset(token)
        if pending and not pending[0].absent:
            try:
                _write(pending[0], target)
            except Exception:  # the answer (403/404) must not turn into a 500 because the log is busy
                log.exception("could not record the refusal of %s", pending[0].action)


def refuse(
    user: Any,
    action: str,
    *,
    resource: str = "",
    target: str = "",
    cluster_id: int | None = None,
    not_found: bool = False,
    message: str | None = None,
    absent: bool = False,
) -> NoReturn:
    """Record a refusal and raise it: ``Http404`` with ``not_found``, else ``PermissionDenied``. With ``absent``
    (what was asked for does not exist, in any tenant) it is a 404 and no refusal: nothing is written."""
    note_refusal(Refusal(user, action, resource, target, cluster_id, not_found or absent, absent))
    if not_found:
        raise Http404(_("Not found."))
    raise PermissionDenied(message or _("You are not permitted to perform %(action)s.") % {"action": action})


# --- the door --------------------------------------------------------------------------------------


def _queryset_of(model: type[models.Model]) -> TenantQuerySet:
    queryset = model._default_manager.get_queryset()
    if not isinstance(queryset, TenantQuerySet):
        raise TypeError(f"{model.__name__} has no tenant-aware manager")
    return queryset


def _absent(user: User | Any, queryset: TenantQuerySet, lookup: dict[str, Any]) -> bool:
    """Nothing of the caller's own tenant answers ``lookup``. Another tenant's object counts as absent: the answer
    and what the caller's log keeps are the same as for a name that exists nowhere (its existence is never
    revealed)."""
    if not _signed_in(user):
        return True
    return not queryset.filter(**lookup, **{queryset.tenant_path: user.tenant_id}).exists()


def visible_object(
    user: User | Any, queryset: TenantQuerySet, action: str | None = None, *, target: str = "", **lookup: Any
) -> Any:
    """The object ``lookup`` names among those ``user`` may see for ``action`` (the queryset's read action by
    default); ``Http404`` and a refusal on record otherwise (the target is what the caller asked for)."""
    found = queryset.filter(**lookup).visible_to(user, action).first()
    if found is None:
        asked = target or " ".join(str(value) for value in lookup.values())
        refuse(
            user, action or queryset.read_action, target=asked, not_found=True, absent=_absent(user, queryset, lookup)
        )
    return found


def own_user(user: User | Any, queryset: TenantQuerySet, **lookup: Any) -> Any:
    """The caller's own user when ``lookup`` names it in ``queryset`` (None otherwise): one's own user is always
    visible to oneself (My account shows it), whatever the policies say."""
    if not _signed_in(user) or not isinstance(user, queryset.model):
        return None
    return queryset.filter(pk=user.pk, **lookup).first()


def _resource_or_none(obj: models.Model) -> Resource | None:
    try:
        return resource_of(obj)
    except (TypeError, KeyError):  # a kind whose resource depends on who asks (policies): named by the target
        return None


def permitted_object(
    user: User | Any, queryset: TenantQuerySet, action: str, *, target: str = "", about: str = "", **lookup: Any
) -> Any:
    """The object ``lookup`` names, for a request that needs ``action`` on it.

    A read action (``accounts.roles.is_read_action``) is a lookup among what the user may read that way
    (:func:`visible_object`: ``Http404`` otherwise). Any other action needs the object visible (the queryset's
    read action; ``Http404`` otherwise) and ``action`` allowed on it (``PermissionDenied`` otherwise), as
    :func:`authorize` decides. Every refusal names ``action`` and is on record; the target of a 404 is what the
    caller asked for (``target``, else the lookup's values), of a 403 what the action is about (``about``: a shared
    network of a cluster) or else the object. A 404 of nothing that exists is not a refusal: it is not written.

    One's own user (:func:`own_user`) is always visible to oneself: a read of it that the policies do not allow is
    a 403 naming the action (never a 404 hiding what the caller knows is there); any other action on it is left to
    the operation's own rules (a user's self-service actions). The API and the pages decide the same way here.
    """
    own = own_user(user, queryset, **lookup)
    if own is not None:
        if (
            is_read_action(action)
            and not user.is_primary
            and not queryset.filter(pk=own.pk).visible_to(user, action).exists()
        ):
            refuse(user, action, resource=own.resource_name, target=own.login)
        return own
    if is_read_action(action):
        return visible_object(user, queryset, action, target=target, **lookup)
    found = queryset.filter(**lookup).visible_to(user).first()
    if found is None:
        asked = target or " ".join(str(value) for value in lookup.values())
        refuse(user, action, target=asked, not_found=True, absent=_absent(user, queryset, lookup))
    if not user.is_primary and not queryset.filter(pk=found.pk).visible_to(user, action).exists():
        resource = _resource_or_none(found)
        refuse(
            user,
            action,
            resource=resource.name if resource else "",
            target=about or str(found),
            cluster_id=resource.cluster_id if resource else None,
        )
    return found


def authorize(user: User | Any, action: str, obj: models.Model, *, target: str = "") -> None:
    """Raise unless ``user`` may perform ``action`` on ``obj``; 404 when it may not even see it. ``target`` names
    what the action was about in the refusal's log entry when that is not ``obj`` (a shared network of a cluster)."""
    queryset = _queryset_of(type(obj))
    if not queryset.filter(pk=obj.pk).visible_to(user).exists():
        own = _signed_in(user) and queryset.filter(pk=obj.pk, **{queryset.tenant_path: user.tenant_id}).exists()
        if own:  # the actor's own tenant may read in its log what was refused
            resource = resource_of(obj)
            refuse(
                user,
                action,
                resource=resource.name,
                target=target or str(obj),
                cluster_id=resource.cluster_id,
                not_found=True,
            )
        refuse(user, action, not_found=True)
    if user.is_primary:
        return
    resource = resource_of(obj)
    if not decide(user, action, resource).allowed:
        refuse(user, action, resource=resource.name, target=target or str(obj), cluster_id=resource.cluster_id)


def authorize_tenant(user: User | Any, action: str, resource: str | None = None, *, target: str = "") -> None:
    """Raise ``PermissionDenied`` unless ``user`` may perform a tenant-wide ``action`` (on ``resource``)."""
    name = resource or f"acs:*:*:{getattr(user, 'tenant_id', '')}:*"
    if not may(user, action, name):
        refuse(user, action, resource=name, target=target)


# --- grants (guardian) ----------------------------------------------------------------------------


def grant_role(principal_obj: Any, role: str, cluster: Any) -> None:
    """Give ``principal_obj`` (a user or an ``auth.Group``) exactly ``role`` on ``cluster``."""
    from guardian.shortcuts import assign_perm, remove_perm

    for other in ROLES.values():
        remove_perm(f"clusters.{other.codename}", principal_obj, cluster)
    assign_perm(f"clusters.{ROLES[role].codename}", principal_obj, cluster)


def revoke_roles(principal_obj: Any, cluster: Any) -> None:
    """Remove every role of ``principal_obj`` on ``cluster``."""
    from guardian.shortcuts import remove_perm

    for role in ROLES.values():
        remove_perm(f"clusters.{role.codename}", principal_obj, cluster)
