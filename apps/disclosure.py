"""What a caller may read of an application's configuration: one rule for the API, the pages and ``docker inspect``.

Environment values are secrets until shown otherwise. A caller who may change the application
(``cs:UpdateApplication``) sees them, with its config set's secret values masked (``****``); everyone else sees
the variables' names with every value ``****``, and the application's secrets (its config set's, the values of
its secret-looking variables, and its environment's values) masked wherever they appear. The template text and
the variables of its versions, which may hold literal values, are shown only to who may change it.

Everything that shows an application's services, versions or containers asks a :class:`Disclosure`: the
serializers, the versions endpoint, the container inspect endpoint and page, the application pages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from apps import stacks
from apps.masking import MASK, Masker
from apps.models import Application

MASKED_LENGTH = 6
"""Environment values at least this long are masked wherever they appear for callers who may not read them
(shorter ones, such as ``1`` or ``fast``, only in the environment itself: masking them everywhere would garble
the rest)."""


@dataclass(frozen=True)
class Disclosure:
    """What one user may read of some applications (by application id); unknown applications: nothing secret."""

    changeable: frozenset[int] = frozenset()
    maskers: Mapping[int, Masker] = field(default_factory=dict)

    @classmethod
    def of(cls, user: Any, apps: Iterable[Application]) -> Disclosure:
        """The disclosure for ``user`` of ``apps`` (a few queries, and each application's services: best
        prefetched)."""
        apps = list(apps)
        changeable = frozenset(
            Application.objects.visible_to(user, "cs:UpdateApplication")
            .filter(pk__in=[a.pk for a in apps])
            .values_list("pk", flat=True)
        )
        hidden = stacks.maskers_of([a for a in apps if a.pk not in changeable])
        maskers = {}
        for app in apps:
            if app.pk in changeable:
                maskers[app.pk] = stacks.masker_for(app.config_set)
            else:  # the environment's values also where they reappear (a command, a label), when long enough
                values = [str(v) for s in app.services.all() for v in (s.environment or {}).values()]
                maskers[app.pk] = Masker.of(hidden[app.pk].secrets, [v for v in values if len(v) >= MASKED_LENGTH])
        return cls(changeable, maskers)

    def may_change(self, app_id: int) -> bool:
        """Whether the caller may change the application, and so read the values it runs with."""
        return app_id in self.changeable

    def masker(self, app_id: int) -> Masker:
        """The secrets of the application the caller may never read."""
        return self.maskers.get(app_id) or Masker()

    def text(self, app_id: int, value: str) -> str:
        """A text made from the application's model (an image reference, a message), its secrets masked."""
        return self.masker(app_id).text(value)

    def data(self, app_id: int, value: Any) -> Any:
        """Strings at any depth, their secrets masked (a command, a plan)."""
        return self.masker(app_id).data(value)

    def environment(self, app_id: int, env: Mapping[str, Any]) -> dict[str, Any]:
        """A service's environment: the values to who may change the application (secrets masked), otherwise
        the names, each value ``****``."""
        if self.may_change(app_id):
            return {str(key): self.data(app_id, value) for key, value in env.items()}
        return {str(key): MASK for key in env}

    def environment_list(self, app_id: int, entries: Iterable[str]) -> list[str]:
        """Docker's ``KEY=VALUE`` list (``Config.Env``) by the same rule as ``environment``."""
        pairs = [str(entry).partition("=") for entry in entries]
        shown = self.environment(app_id, {key: value for key, _sep, value in pairs})
        return [f"{key}={shown[key]}" for key, _sep, _value in pairs]

    def inspect(self, app_id: int, found: Mapping[str, Any]) -> dict[str, Any]:
        """``docker inspect`` of one of the application's containers: ``Config.Env`` by the environment rule,
        the application's secrets masked everywhere else."""
        config = found.get("Config")
        env = config.get("Env") if isinstance(config, Mapping) else None
        if not env:
            return self.data(app_id, dict(found))
        shown = self.data(app_id, {**found, "Config": {**config, "Env": []}})
        shown["Config"]["Env"] = self.environment_list(app_id, env)
        return shown

    def template_text(self, app_id: int, text: str) -> str | None:
        """A version's template text (it may hold literal environment values): only to who may change it, as it
        was written (its variables are references, not values)."""
        return text if self.may_change(app_id) else None

    def variables(self, app_id: int, values: Mapping[str, str]) -> dict[str, str | None]:
        """A version's variables: values only to who may change the application, config-set secrets never."""
        if not self.may_change(app_id):
            return {key: None for key in values}
        secrets = set(self.masker(app_id).secrets)
        return {key: (MASK if value in secrets else value) for key, value in values.items()}
