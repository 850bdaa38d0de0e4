"""The permission core: the one door every list, detail and change goes through.

* ``Model.objects.visible_to(user, action)`` narrows a queryset to what the user may see.
* ``authorize(user, action, obj)`` raises ``Http404`` when the user may not see ``obj`` at all
  (another tenant's object is never revealed) and ``PermissionDenied`` when it may see but not act.

The tenant boundary comes first and is absolute. Inside a tenant the primary account may do
everything; a sub-account is denied until RAM policies or cluster grants allow it (issue 3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from accounts.models import User


def is_allowed(user: Any, action: str, resource: str = "*") -> bool:
    """Whether ``user`` may perform ``action`` on the resource named ``resource`` (same tenant assumed)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return bool(user.is_primary)


class TenantQuerySet(models.QuerySet):
    """A queryset of tenant-owned rows. Subclasses name the path to the tenant and the read action."""

    tenant_path = "tenant"
    read_action = "cs:Describe*"

    def visible_to(self, user: User | Any, action: str | None = None) -> TenantQuerySet:
        """A user can see a row when it is in the user's tenant and the action on it is allowed."""
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        scoped = self.filter(**{self.tenant_path: user.tenant_id})
        if not is_allowed(user, action or self.read_action):
            return scoped.none()
        return scoped


def authorize(user: User | Any, action: str, obj: models.Model) -> None:
    """Raise unless ``user`` may perform ``action`` on ``obj``; 404 when it may not even see it."""
    manager = type(obj)._default_manager
    queryset = manager.get_queryset()
    if not isinstance(queryset, TenantQuerySet):
        raise TypeError(f"{type(obj).__name__} has no tenant-aware manager")
    if not queryset.visible_to(user).filter(pk=obj.pk).exists():
        raise Http404(_("Not found."))
    if not is_allowed(user, action):
        raise PermissionDenied(_("You are not permitted to perform %(action)s.") % {"action": action})


def authorize_tenant(user: User | Any, action: str) -> None:
    """Raise ``PermissionDenied`` unless ``user`` may perform a tenant-wide ``action`` (e.g. create)."""
    if not is_allowed(user, action):
        raise PermissionDenied(_("You are not permitted to perform %(action)s.") % {"action": action})
