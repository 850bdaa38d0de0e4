"""The decorator every console page uses: sign-in required, and the RAM actions it needs on record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required


def page(*actions: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Require a signed-in user and name the actions the page needs (for the action catalogue).

    The page itself still asks ``visible_to``/``authorize``: this records, it does not decide.
    """

    def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
        wrapped = login_required(view)
        wrapped.berth_actions = actions  # type: ignore[attr-defined]
        return wrapped

    return wrap
