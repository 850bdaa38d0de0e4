"""Refusals of a Compose model's update and rollback settings at plan time (an ``apps.stacks.PLAN_CHECKS`` check)."""

from __future__ import annotations

from typing import Any

from apps import compose
from apps import releases as carry
from apps.models import Application
from clusters.models import Cluster
from releases import canary, strategy


def refusals(cluster: Cluster, model: dict[str, Any], project: str) -> list[str]:
    """Why the services' ``deploy.update_config``, ``deploy.rollback_config`` or ``aliyun.rolling_updates.*``
    cannot run for their scale (parallelism 0 or above the scale, a negative delay, a ratio outside 0–1)."""
    found = []
    for name, service in sorted((model.get("services") or {}).items()):
        scale = compose.service_scale(model, name)
        is_global = compose.is_global(model, name)
        found += [f"services.{name}: {why}" for why in strategy.problems(service, scale, is_global=is_global)]
    return found


def side_by_side(kind: str) -> Any:
    """The check of a ``blue-green`` or ``canary`` update (an ``apps.operations.STRATEGIES`` entry)."""

    def check(app: Application, the_plan: dict[str, Any], settings: dict[str, Any] | None) -> tuple[dict, list[str]]:
        problems: list[str] = []
        if settings is not None and kind != "canary":
            problems.append(f"canary settings go with the canary strategy, not {kind}")
        chosen, refused = canary.settings_of(settings) if kind == "canary" else (None, [])
        problems += refused
        if app.status != Application.Status.RUNNING:
            problems.append(f"a {kind} release needs the application running; it is {app.status}")
        changed = []
        for item in the_plan.get("services") or []:
            if item["new"] or item["create"] or item["remove"] or item["scale"]["from"] != item["scale"]["to"]:
                problems.append(
                    f"services.{item['name']}: a {kind} release changes what the containers run, not how many or "
                    "which services; scale or add services in a rolling update"
                )
            if item.get("rolling"):
                changed.append(item["name"])
                if item["rolling"].get("note"):  # a fixed host port: the new version cannot run beside the old
                    problems.append(
                        f"services.{item['name']}: a {kind} release runs the new version beside the old one, and "
                        "this service publishes a fixed host port that two containers cannot share; use a rolling "
                        "update"
                    )
        if the_plan.get("removed_services"):
            names = ", ".join(s["name"] for s in the_plan["removed_services"])
            problems.append(f"a {kind} release cannot remove services ({names}); use a rolling update")
        if not changed and not problems:
            problems.append(f"nothing would run beside the old version: no running container of {app.name} changes")
        routed = set().union(*(hook(app) for hook in carry.ROUTED)) if carry.ROUTED else set()
        for name in changed:
            if name not in routed:
                problems.append(
                    f"services.{name}: a {kind} release shares a route's traffic between the versions, and this "
                    "service has no route (an aliyun.routing.port_N label, with the cluster's routing service on)"
                )
        params: dict[str, Any] = {"strategy": kind}
        if chosen is not None:
            params["canary"] = chosen.as_dict()
        return params, problems

    return check
