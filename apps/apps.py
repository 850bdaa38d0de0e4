from django.apps import AppConfig


class AppsConfig(AppConfig):
    """Applications, their services and containers, and releases (long work)."""

    name = "apps"
    label = "apps"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Hand the cluster layer (which never imports this one) what runs on its nodes: the containers."""
        from apps.nodework import Containers
        from clusters import workload

        workload.use(Containers())
