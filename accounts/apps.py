from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Tenants, users, access keys and the permission core."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
