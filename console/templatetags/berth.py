"""Small template filters of the console."""

from __future__ import annotations

import secrets
from typing import Any

from django import template
from django.utils.html import format_html

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
