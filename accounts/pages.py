"""The door of every console page: sign-in, the RAM action each request needs, decided before the page shows
anything.

A page declares the action its ``GET`` needs and the one its ``POST`` needs (for a page of several verbs, the
action of each verb its URL may carry), and the further actions whose objects it shows (``also``, for the
action catalogue; the page narrows those by ``visible_to(user, action)``)::

    @page(get="cs:DescribeClusterNodes", post="cs:ModifyClusterNode")
    def node_detail(request, pk):
        node = page_object(request, Node.objects.select_related("cluster"), pk=pk)

The decorator requires a signed-in user, answers 405 to a method the page does not declare and 404 to a verb
it does not know, and puts the request's action on ``request.berth_action``. The object the URL names is looked
up with :func:`page_object`, through the permission door with that action
(``accounts.permissions.permitted_object``): not visible → 404, visible but the action not allowed → 403, each
refusal on record. So the update page of an application needs ``cs:UpdateApplication`` to open at all, not
only the right to describe the application.

A request whose action only reads and whose URL names no object is a list: it shows what
``visible_to(user, action)`` gives. A request that changes something and whose URL names no object (a form that
creates, a tenant-wide setting), or whose action acts on an object the form names (the cluster a template is
deployed to), is decided before the view on the action's ``scope``: a resource name (with ``{tenant}``), decided
as ``authorize_tenant`` does, or a tenant-owned queryset (allowed when the action is allowed on at least one of
its rows: "some cluster where the user may create an application"); the operation then decides on the very
object the form names. Pages of the signed-in user's own account (``own=True``) open for every user; their
operations apply the self-service rules.

What the door would answer is also what the console shows: :func:`permits` asks, without refusing or recording
anything, whether a user may make a request of a page (a button's form, a link), from the same declaration and on
the object the page shows (``{% permit %}`` in templates, ``accounts.templatetags.berth``), so a control the user may
not use is shown disabled with the action it needs, or not at all.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import Resolver404, resolve, reverse
from django.utils.functional import SimpleLazyObject, empty
from django.utils.translation import gettext as _

from accounts import permissions
from accounts.decisions import Resource, TenantQuerySet
from accounts.operations import CREDENTIAL_ACTIONS, SELF_SERVICE_ACTIONS
from accounts.roles import is_read_action

Scope = str | TenantQuerySet | Callable[[Any], TenantQuerySet]


def every(service: str, kind: str) -> str:
    """The scope "every ``kind`` of the tenant": ``acs:<service>:*:{tenant}:<kind>/*``."""
    return f"acs:{service}:*:{{tenant}}:{kind}/*"


@dataclass(frozen=True)
class PageActions:
    """What a page declares: the action of each method (by verb for pages of several), where an action of a
    request whose URL names no object is decided (``scope``), and what else it shows (``also``)."""

    get: str | None = None
    post: str | Mapping[str, str] | None = None
    verb: str | None = None
    new: Mapping[str, str] = field(default_factory=dict)
    scope: Mapping[str, Scope] = field(default_factory=dict)
    also: tuple[str, ...] = ()
    own: bool = False

    def names_object(self, kwargs: Mapping[str, Any]) -> bool:
        """Whether the URL names an object (any of its arguments but the verb)."""
        return any(key != self.verb for key in kwargs)

    def action(self, method: str, kwargs: Mapping[str, Any]) -> str | None:
        """The action a request needs: None when the page does not answer ``method``, "" for a verb it does not
        know. ``new`` gives the actions of the page's URL that names no object (``/templates/new/``)."""
        method = "GET" if method == "HEAD" else method
        if method in self.new and not self.names_object(kwargs):
            return self.new[method]
        declared = {"GET": self.get, "POST": self.post}.get(method)
        if isinstance(declared, Mapping):
            return declared.get(str(kwargs.get(self.verb or "", "")), "")
        return declared

    @property
    def actions(self) -> tuple[str, ...]:
        """Every action the page declares, the ``GET`` action first (the action catalogue's list)."""
        posted = list(self.post.values()) if isinstance(self.post, Mapping) else [self.post]
        found = [self.get, *posted, *self.new.values(), *self.also]
        return tuple(dict.fromkeys(a for a in found if a))

    def check(self, name: str) -> None:
        """Refuse a declaration the door could not apply (raised when the page is defined)."""
        if isinstance(self.post, Mapping) and not self.verb:
            raise ImproperlyConfigured(f"{name}: actions by verb need verb=<the URL argument>")
        unknown = [a for a in self.scope if a not in self.actions]
        if unknown:
            raise ImproperlyConfigured(f"{name}: scope of undeclared actions {unknown}")

    def needs_scope(self, action: str, kwargs: Mapping[str, Any]) -> bool:
        """Whether a request of ``action`` is decided before the view, on the action's scope: a change whose URL
        names no object, or one the page gives a scope (its object comes from the form, e.g. the cluster a
        template is deployed to)."""
        if self.own or is_read_action(action):
            return False
        return action in self.scope or not self.names_object(kwargs)


def _target(request: HttpRequest) -> str:
    return f"{request.method} {request.path}"


def _scope_allows(user: Any, action: str, scope: Scope) -> bool:
    """Whether ``action`` is allowed on its scope: a resource name (``{tenant}`` filled in), or a queryset of which
    at least one row allows it (the primary account may, rows or not), or a function giving that queryset for the
    user (rows of a layer above, reached through the user's tenant). Kept on the user object for a request."""
    if user.is_primary and not isinstance(scope, str):
        return True
    if callable(scope):
        scope = scope(user)
    who = permissions.principal(user) if not user.is_primary else None
    cached = user.__dict__.get("_berth_scopes")
    if cached is None or cached[0] is not who:  # the policies or grants were read again: so are the answers
        cached = user.__dict__["_berth_scopes"] = (who, {})
    known: dict[tuple[str, str], bool] = cached[1]
    key = (action, scope if isinstance(scope, str) else scope.model._meta.label)
    if key not in known:
        if isinstance(scope, str):
            known[key] = permissions.may(user, action, scope.format(tenant=user.tenant_id))
        else:
            known[key] = scope.visible_to(user, action).exists()
    return known[key]


def _decide_on_scope(request: HttpRequest, declared: PageActions, action: str) -> None:
    """Decide a change on its scope before the view runs (a refusal on record otherwise)."""
    scope = declared.scope.get(action)
    if scope is None:
        raise ImproperlyConfigured(f"{request.path}: {action} names no object and has no scope")
    user = request.user
    if not _scope_allows(user, action, scope):
        resource = scope.format(tenant=user.tenant_id) if isinstance(scope, str) else ""
        permissions.refuse(user, action, resource=resource, target=_target(request))


def page(
    get: str | None = None,
    post: str | Mapping[str, str] | None = None,
    *,
    verb: str | None = None,
    new: Mapping[str, str] | None = None,
    scope: Mapping[str, Scope] | None = None,
    also: tuple[str, ...] = (),
    own: bool = False,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Declare a console page: the action its ``GET`` needs, the action its ``POST`` needs (one, or one per
    value of the URL argument ``verb``), the actions of its URL that names no object (``new``, by method),
    where changes without an object are decided (``scope``, by action), and what else it shows (``also``).

    See the module's docstring for what the door decides before the page runs.
    """
    declared = PageActions(get, post, verb, dict(new or {}), dict(scope or {}), tuple(also), own)

    def wrap(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        declared.check(f"{view.__module__}.{view.__qualname__}")

        @functools.wraps(view)
        def door(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            action = declared.action(request.method or "", kwargs)
            if action is None:
                allowed = [m for m, a in (("GET", declared.get), ("POST", declared.post)) if a]
                return HttpResponseNotAllowed(allowed + (["HEAD"] if declared.get else []))
            if not action:
                raise Http404
            request.berth_action = action  # type: ignore[attr-defined]
            request.berth_page = declared  # type: ignore[attr-defined]
            if declared.needs_scope(action, kwargs):
                _decide_on_scope(request, declared, action)
            return view(request, *args, **kwargs)

        wrapped = login_required(door)
        wrapped.berth_actions = declared.actions  # type: ignore[attr-defined]
        wrapped.berth_page = declared  # type: ignore[attr-defined]
        return wrapped

    return wrap


def page_object(
    request: HttpRequest, queryset: TenantQuerySet, *, action: str | None = None, about: str = "", **lookup: Any
) -> Any:
    """The object the page's URL names, looked up through the permission door with the request's action (or
    ``action``, one the page declares, for an object the page only reads on the way): 404 when the user may not
    see it, 403 when it may not do the action on it; each refusal on record with the path as its target (a 403's:
    ``about``, what the action is about when that is not the object, else the object)."""
    declared: PageActions | None = getattr(request, "berth_page", None)
    if declared is None:
        raise ImproperlyConfigured("page_object outside a page declared with accounts.pages.page")
    wanted = action or request.berth_action  # type: ignore[attr-defined]
    if wanted not in declared.actions:
        raise ImproperlyConfigured(f"{request.path}: {wanted} is not an action the page declares")
    try:
        return permissions.permitted_object(
            request.user, queryset, wanted, target=_target(request), about=about, **lookup
        )
    except PermissionDenied:
        # Seen but not permitted: the refusal page leads back to it (``accounts.templatetags.berth.way_back``).
        refused_on = permissions.own_user(request.user, queryset, **lookup)
        if refused_on is None:
            refused_on = queryset.filter(**lookup).visible_to(request.user).first()
        request.berth_refused_on = refused_on  # type: ignore[attr-defined]
        raise


def page_action(callback: Any, method: str, kwargs: Mapping[str, Any]) -> str:
    """The action a request of a page stands for ("" for views that are not pages, or a verb a page does not
    know): what the middleware records a refused request under."""
    declared: PageActions | None = getattr(callback, "berth_page", None)
    if declared is None:
        return ""
    return declared.action(method, kwargs) or ""


# --- what the console shows: the door's answer, asked before the request ----------------------------------------


@dataclass(frozen=True)
class Permit:
    """What the door would answer a request of a page: allowed or not, and the action the request needs."""

    allowed: bool
    action: str

    def __bool__(self) -> bool:
        return self.allowed


Target = models.Model | Resource | str | None


def _unwrapped(lazy: Any) -> Any:
    """The object behind a lazy one (``request.user``, which middleware may wrap more than once)."""
    while isinstance(lazy, SimpleLazyObject):
        if lazy._wrapped is empty:
            lazy._setup()
        lazy = lazy._wrapped
    return lazy


def _resource(on: models.Model | Resource | str) -> Resource:
    """The RAM resource of the object a page shows (kept on the object: a page asks about it for every button)."""
    if isinstance(on, Resource):
        return on
    if isinstance(on, str):
        return Resource(on)
    on = _unwrapped(on)
    cached = on.__dict__.get("_berth_resource")
    if cached is None:
        cached = permissions.resource_of(on)
        on.__dict__["_berth_resource"] = cached
    return cached


def with_resources(rows: list[Any]) -> list[Any]:
    """Read the RAM resources of the rows a list page shows in one query (``permits`` asks about each row)."""
    if rows:
        model = type(rows[0])
        found = dict(model._default_manager.filter(pk__in=[r.pk for r in rows]).resource_rows())
        for row in rows:
            if row.pk in found:
                row.__dict__["_berth_resource"] = found[row.pk]
    return rows


def permits(user: Any, view_name: str, *args: Any, method: str = "POST", on: Target = None) -> Permit:
    """Whether the door would let ``user`` make the ``method`` request of the page ``view_name`` (with the URL
    arguments ``args``), asked without refusing or recording anything.

    The action is the one the page declares for that method and verb. It is decided on ``on``, the object the
    request acts on (a model instance the page shows, or its RAM resource or resource name; the primary account
    may do everything in its tenant); without one, a change is decided on the page's ``scope`` as the door does
    it, and a read is allowed (a list shows what ``visible_to`` gives). On one's own account pages the
    self-service actions (password, MFA) are every user's, and the others are decided on the user's own RAM user,
    as their operations decide; nobody but the primary account touches its credentials
    (``accounts.operations``). A request of an object the page acts on needs ``on``.
    """
    match = resolve(reverse(view_name, args=args))
    declared: PageActions | None = getattr(match.func, "berth_page", None)
    if declared is None:
        raise ImproperlyConfigured(f"{view_name} is not a page declared with accounts.pages.page")
    action = declared.action(method, match.kwargs)
    if not action:
        return Permit(False, "")
    if user is None or not getattr(user, "is_authenticated", False) or getattr(user, "tenant_id", None) is None:
        return Permit(False, action)
    if declared.own and action in SELF_SERVICE_ACTIONS:
        return Permit(True, action)
    if action in CREDENTIAL_ACTIONS and getattr(on, "is_primary", False) is True and on.pk != user.pk:
        return Permit(False, action)  # the primary account's credentials are its own alone, whatever policies say
    if declared.own and on is None:
        on = user.resource_name  # one's own account: decided on one's own RAM user, as its operations decide
    if on is not None:
        return Permit(bool(user.is_primary) or permissions.may(user, action, _resource(on)), action)
    if declared.needs_scope(action, match.kwargs):
        scope = declared.scope.get(action)
        if scope is None:
            raise ImproperlyConfigured(f"{view_name}: {action} names no object and has no scope")
        return Permit(_scope_allows(user, action, scope), action)
    if is_read_action(action):
        return Permit(True, action)
    raise ImproperlyConfigured(f"{view_name}: {action} acts on an object: ask with on=<the object>")


@dataclass(frozen=True)
class WayBack:
    """A link from a refusal page to a page the user may open: its path and what the link says."""

    path: str
    label: str


def way_back(request: HttpRequest) -> WayBack | None:
    """Where a refused request leads back to: the nearest page up its path (the page itself, for a refused
    ``POST`` to it) that the user may open: the page of the refused object when the user may see it
    (``page_object`` keeps it), a page under that object, or a list. None when there is nothing but the overview."""
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    refused_on = getattr(request, "berth_refused_on", None)
    if refused_on is not None and refused_on == user and not user.is_primary:
        return WayBack(reverse("accounts:account"), _("Go to My account"))  # one's own user, as it may see it
    parts = [p for p in request.path.split("/") if p]
    lengths = range(len(parts) if request.method != "GET" else len(parts) - 1, 0, -1)
    for length in lengths:
        path = "/" + "/".join(parts[:length]) + "/"
        try:
            match = resolve(path)
        except Resolver404:
            continue
        declared: PageActions | None = getattr(match.func, "berth_page", None)
        action = declared.action("GET", match.kwargs) if declared else None
        if not declared or not action or not is_read_action(action):
            continue
        if not declared.names_object(match.kwargs):
            return WayBack(path, _("Back to the list"))
        if refused_on is None or not (user.is_primary or permissions.may(user, action, _resource(refused_on))):
            continue
        if [str(value) for value in match.kwargs.values()] == [str(refused_on.pk)]:
            return WayBack(path, _("Back to %(name)s") % {"name": refused_on})
        return WayBack(path, _("Back to the page"))
    return None
