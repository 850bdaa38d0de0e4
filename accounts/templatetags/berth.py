"""Small template tags and filters of the console, and the one that asks the permission door what a user may do."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from django import template
from django.http import QueryDict
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from accounts import pages
from accounts.models import AccessKey
from console import context as console_context
from console.times import iso_utc

register = template.Library()


@register.filter
def get_item(mapping: dict[str, Any], key: str) -> Any:
    """``{{ mapping|get_item:key }}``: a dictionary lookup with a variable key."""
    return mapping.get(key, "") if isinstance(mapping, dict) else ""


ONCE_FIELD = "once"


@register.simple_tag
def once_field() -> str:
    """A hidden field that makes a form's POST happen once: a reload that sends it again is recognised
    (``accounts.views.auth.done_before``) instead of doing the thing a second time."""
    return format_html('<input type="hidden" name="{}" value="{}">', ONCE_FIELD, secrets.token_urlsafe(16))


@register.simple_tag(takes_context=True)
def permit(context: template.Context, view_name: str, *args: Any, method: str = "POST", on: Any = None) -> pages.Permit:
    """``{% permit "apps:action" app.pk "stop" on=app as may_stop %}``: whether the signed-in user may make that
    request of that page (``accounts.pages.permits``: the action the page declares for it, decided by the
    permission door on ``on``, or on the page's scope), so the page shows only the controls the user may use.

    ``method`` is ``"POST"`` for a button's form, ``"GET"`` for a link to a page that opens with a change
    (``/applications/7/update/``)."""
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    return pages.permits(user, view_name, *args, method=method, on=on)


@register.filter
def unless_permitted(permit: pages.Permit) -> SafeString:
    """``<button{{ may_stop|unless_permitted }}>``: nothing when the user may, else the attributes that disable the
    control and say which action it needs (the browser shows the title on hover and to screen readers)."""
    if permit:
        return SafeString("")
    reason = _("Not permitted: this needs %(action)s.") % {"action": permit.action or "?"}
    return format_html(' disabled aria-disabled="true" title="{}" data-needs="{}"', reason, permit.action)


# One rule for every time the console shows (static/js/live.js ``when`` applies the same one to live values): the
# time of day alone for a moment of today, the date and time otherwise, 24-hour, in the console's time zone (named
# once, at the foot of every page), inside a <time> element that carries the instant in ISO 8601 (UTC, "Z").
TODAY_FORMAT = "%H:%M:%S"
OTHER_DAY_FORMAT = "%Y-%m-%d %H:%M:%S"


def when_text(value: datetime, now: datetime | None = None) -> str:
    """The text of a moment: ``HH:MM:SS`` when it is today in the console's time zone, else the date too."""
    local = timezone.localtime(value)
    today = timezone.localtime(now or timezone.now()).date()
    return local.strftime(TODAY_FORMAT if local.date() == today else OTHER_DAY_FORMAT)


@register.filter
def when(value: datetime | None, empty: str = "—") -> str:
    """``{{ node.last_seen_at|when }}``: the one way the console writes a moment (see ``when_text``), with the full
    date, time and zone on hover; ``empty`` (a dash) for none."""
    if not value:
        return empty
    local = timezone.localtime(value)
    full = f"{local.strftime(OTHER_DAY_FORMAT)} {local.tzname()}"
    return format_html('<time datetime="{}" title="{}">{}</time>', iso_utc(value), full, when_text(value))


@register.simple_tag(takes_context=True)
def page_query(context: template.Context, **changes: Any) -> str:
    """``{% page_query page=2 %}``: the current query string with ``changes`` (``None`` drops a key), without the
    filter boxes left empty and without an export request: ``?page=2``, never ``?&page=2``."""
    request = context.get("request")
    query = request.GET.copy() if request is not None else QueryDict(mutable=True)
    for key in [key for key, values in query.lists() if not any(values)]:
        del query[key]
    query.pop("export", None)
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    return f"?{query.urlencode()}" if query else "?"


@register.simple_tag(takes_context=True)
def way_back(context: template.Context) -> pages.WayBack | None:
    """``{% way_back as back %}`` on a refusal page: where the refused request leads back to (``pages.way_back``)."""
    request = context.get("request")
    return pages.way_back(request) if request is not None else None


# Who grants an action, by the service that names it: RAM actions by a policy from the primary account or a RAM
# administrator; the container service's also by a role on the cluster.
GRANTS = {
    "ram": _lazy("It needs %(action)s: ask the primary account or a RAM administrator for a policy that allows it."),
    "cs": _lazy("It needs %(action)s: ask your administrator for a policy that allows it, or a role on the cluster."),
}
GRANT_OTHER = _lazy("It needs %(action)s: ask your administrator for a policy that allows it.")


@register.simple_tag
def grant_hint(action: str | None) -> str:
    """``{% grant_hint "ram:SimulatePolicy" %}``: who may grant ``action`` and how, fitting its service."""
    if not action:
        return str(_lazy("Ask your administrator for a policy that allows it."))
    service = action.split(":", 1)[0]
    return str(GRANTS.get(service, GRANT_OTHER)) % {"action": action}


@register.simple_tag(takes_context=True)
def refused_action(context: template.Context) -> str:
    """``{% refused_action as action %}`` on a refusal page: the action that was refused (the refusal the request
    put on record, else the action of the page asked for)."""
    pending = console_context.refusals.get()
    if pending:
        return pending[0].action
    return getattr(context.get("request"), "berth_action", "") or ""


@register.simple_tag
def access_key_limit() -> int:
    """``{% access_key_limit as limit %}``: how many access keys one user may hold (``AccessKey.MAX_PER_USER``)."""
    return AccessKey.MAX_PER_USER
