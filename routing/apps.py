from django.apps import AppConfig


class RoutingConfig(AppConfig):
    """The routing service: routes, the routers (HAProxy) on the nodes, and their sync."""

    name = "routing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Hand the layers below what only this one knows (they never import it): the domain claims' check at plan
        time, the routes written with the services, the routers letting go of containers before a release removes
        them; and a sync of the routers whenever what they serve changes."""
        from django.db.models.signals import post_save

        from apps import models, releases, stacks
        from clusters import models as cluster_models
        from clusters.models import Cluster
        from routing import routes, sync

        for registry, callback in (
            (stacks.PLAN_CHECKS, routes.refusals),
            (stacks.SERVICES_WRITTEN, routes.refresh),
            (releases.BEFORE_REMOVAL, sync.let_go),
            (releases.BEFORE_DELETE, sync.forget),
            (releases.IN_ROTATION, sync.in_rotation),
            (releases.DRAIN, sync.drain),
            (releases.ROUTERS_NOW, sync.sync_application),
            (releases.REQUEST_LOG, sync.request_log),
            (releases.PREVIEWS, sync.previews),
            (releases.ROUTED, sync.routed_services),
            (models.CONTAINER_LISTENERS, sync.containers_changed),
            (cluster_models.NODE_LISTENERS, sync.node_changed),
            (cluster_models.NODE_LEAVING, sync.node_leaving),
        ):
            if callback not in registry:
                registry.append(callback)
        post_save.connect(_cluster_changed, sender=Cluster, dispatch_uid="routing.cluster_saved")


def _cluster_changed(sender: object, instance: object, created: bool = False, **kwargs: object) -> None:
    from routing import sync
    from routing.models import Router

    if created:
        return
    if sync.enabled(instance) or Router.objects.filter(cluster=instance).exists():  # type: ignore[arg-type]
        sync.schedule(instance.pk)  # type: ignore[attr-defined]
