from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    """See inside: the engines' events of Berth's containers (and, as the issue grows, logs and metrics)."""

    name = "observability"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Hand the layers below what only this one does: keep each engine event the watcher sees, and each image a
        release pulled."""
        from apps import releases, stacks, watcher
        from observability import autoscale, events, logs, metrics

        for registry, callback in (
            (watcher.EVENT_LISTENERS, events.record),
            (watcher.REPLAY_FROM, events.replay_from),
            (watcher.NODE_COMPANIONS, logs.start_node),
            (watcher.NODE_COMPANIONS, metrics.start_node),
            (releases.PULLED, events.pulled),
            (stacks.PLAN_CHECKS, autoscale.refusals),
        ):
            if callback not in registry:
                registry.append(callback)
        from django.db.backends.signals import connection_created

        connection_created.connect(logs.register_sqlite_re2, dispatch_uid="observability.re2")
