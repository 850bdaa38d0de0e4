"""The decorator every console page uses: sign-in required, and the RAM actions it needs on record."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
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


def page_action(callback: Any, kwargs: Mapping[str, Any]) -> str:
    """The action a request of a page stands for: its only action; or, for a page of several actions
    (``/applications/5/stop/``), the one its URL's verb names (``cs:StopApplication``); else its first."""
    actions: tuple[str, ...] = getattr(callback, "berth_actions", ())
    if len(actions) <= 1:
        return actions[0] if actions else ""
    names = {action: action.partition(":")[2].lower() for action in actions}
    for value in kwargs.values():
        verb = re.sub(r"[^a-z]", "", str(value).lower())
        if not verb:
            continue
        for fits in (str.startswith, str.__contains__):
            named = [action for action, name in names.items() if fits(name, verb)]
            if len(named) == 1:
                return named[0]
    return actions[0]
