from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    """Releases without downtime: rolling updates planned per service and carried out batch by batch."""

    name = "releases"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Hand the layers below what only this one knows (they never import it): the update settings' check at
        plan time, the rolling replacement of running containers in updates, rollbacks and redeploys, and the blue-green
        and canary strategies of updates."""
        from apps import operations, releases, stacks
        from apps.models import Release
        from releases import checks, previews, rolling, sidebyside

        if checks.refusals not in stacks.PLAN_CHECKS:
            stacks.PLAN_CHECKS.append(checks.refusals)
        if previews.rolling_steps not in stacks.PLANNED_SERVICE:
            stacks.PLANNED_SERVICE.append(previews.rolling_steps)
        if rolling.roll not in releases.ROLLING:
            releases.ROLLING.append(rolling.roll)
        releases.RUNNERS[Release.Kind.UPDATE] = sidebyside.update
        operations.STRATEGIES["blue-green"] = checks.side_by_side("blue-green")
        operations.STRATEGIES["canary"] = checks.side_by_side("canary")
        releases.RUNNERS[Release.Kind.ROLLBACK] = rolling.update
        releases.RUNNERS[Release.Kind.REDEPLOY] = rolling.redeploy
