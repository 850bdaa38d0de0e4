from django.apps import AppConfig


class ClustersConfig(AppConfig):
    """Clusters, nodes and the one door to Docker."""

    name = "clusters"
    default_auto_field = "django.db.models.BigAutoField"
