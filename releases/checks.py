"""Refusals of a Compose model's update and rollback settings at plan time (an ``apps.stacks.PLAN_CHECKS`` check)."""

from __future__ import annotations

from typing import Any

from apps import compose
from clusters.models import Cluster
from releases import strategy


def refusals(cluster: Cluster, model: dict[str, Any], project: str) -> list[str]:
    """Why the services' ``deploy.update_config``, ``deploy.rollback_config`` or ``aliyun.rolling_updates.*``
    cannot run for their scale (parallelism 0 or above the scale, a negative delay, a ratio outside 0–1)."""
    found = []
    for name, service in sorted((model.get("services") or {}).items()):
        scale = compose.service_scale(model, name)
        is_global = compose.is_global(model, name)
        found += [f"services.{name}: {why}" for why in strategy.problems(service, scale, is_global=is_global)]
    return found
