"""Small template tags and filters of the console, and the one that asks the permission door what a user may do."""

from __future__ import annotations

import secrets
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from console import pages

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
    request of that page (``console.pages.permits``: the action the page declares for it, decided by the
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
