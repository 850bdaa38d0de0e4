"""How an operation's refusal lands on the console form that asked for it (the ground: every app's pages use it)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError


def refused(form: Any, exc: ValidationError) -> None:
    """Put ``exc`` on ``form``: each field's messages under that field when the form has it, the rest (and a
    message that names no field) above the form."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)
