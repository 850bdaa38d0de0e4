from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _system_policies(sender: Any, **kwargs: Any) -> None:
    from accounts.operations import ensure_system_policies

    ensure_system_policies()


class AccountsConfig(AppConfig):
    """Tenants, users, RAM (groups, policies, grants), access keys and the permission core."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(_system_policies, sender=self)
