from django.apps import AppConfig


class AppsConfig(AppConfig):
    """Applications, their services and containers, and releases (long work)."""

    name = "apps"
    label = "apps"
    default_auto_field = "django.db.models.BigAutoField"
