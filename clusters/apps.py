from django.apps import AppConfig


class ClustersConfig(AppConfig):
    """Clusters, nodes and the one door to Docker."""

    name = "clusters"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Hand the layers below what only this one knows (they never import it): the operation log's rule for
        sub-accounts, and the first tenant's "local" cluster."""
        from accounts import operations as accounts_operations
        from clusters import operations
        from clusters.operation_log import sub_account_entries
        from console.models import OperationLogQuerySet

        OperationLogQuerySet.install(sub_account_entries)
        if operations.give_this_machine not in accounts_operations.FIRST_TENANT_GETS:
            accounts_operations.FIRST_TENANT_GETS.append(operations.give_this_machine)
