from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The project's cross-cutting pieces: operation log, live status, dashboard."""

    name = "console"
    default_auto_field = "django.db.models.BigAutoField"
