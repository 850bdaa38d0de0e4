"""How a service's containers are replaced when its application changes: Compose's ``deploy.update_config`` and
``deploy.rollback_config`` and Alibaba's ``aliyun.rolling_updates`` labels, read into one ``UpdateConfig``.

Pure: plain data in, plain data out; no ORM, no Docker. ``problems`` says, in words for people, what is wrong with a
service's settings for its scale (the plan refuses an update with such settings before anything changes).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

ORDERS = ("stop-first", "start-first")
FAILURE_ACTIONS = ("pause", "rollback", "continue")
DEFAULT_MONITOR = 1.0
"""Seconds a new container must stay running (and healthy, when it has a check) before its batch counts as done,
unless the service sets ``monitor``: a container that dies just after its start is caught."""
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?(?:(\d+)us)?(?:(\d+)ns)?$")


def seconds(value: Any) -> float | None:
    """A Compose duration (``10s``, ``1m30s``, ``500ms``) in seconds; None when it is not one."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    found = _DURATION.match(str(value or "").strip())
    if not found or not any(found.groups()):
        return None
    h, m, s, ms, us, ns = (float(g or 0) for g in found.groups())
    return h * 3600 + m * 60 + s + ms / 1e3 + us / 1e6 + ns / 1e9


@dataclass(frozen=True)
class UpdateConfig:
    """How one service's containers are replaced: ``parallelism`` at a time, ``delay`` seconds between batches, new
    first (``start-first``) or old first (``stop-first``), what a failed batch does, how long each new container is
    watched, and the share of failed containers tolerated with ``continue``."""

    parallelism: int = 1
    delay: float = 0.0
    order: str = "stop-first"
    failure_action: str = "pause"
    monitor: float = DEFAULT_MONITOR
    max_failure_ratio: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _section(spec: dict[str, Any], rollback: bool) -> dict[str, Any]:
    deploy = spec.get("deploy") or {}
    section = deploy.get("rollback_config" if rollback else "update_config")
    if rollback and not section:  # a rollback without settings of its own goes as the update went
        section = deploy.get("update_config")
    return section if isinstance(section, dict) else {}


def _label_parallelism(spec: dict[str, Any]) -> int | None:
    labels = spec.get("labels") or {}
    value = str(labels.get("aliyun.rolling_updates.parallelism", "")).strip()
    return int(value) if value.isdigit() else None


def config_of(spec: dict[str, Any], *, rollback: bool = False) -> UpdateConfig:
    """The service's ``UpdateConfig`` (``rollback``: for going back to the previous version). Compose's
    ``update_config`` wins over Alibaba's ``aliyun.rolling_updates.parallelism``; values ``problems`` refuses are
    read as the defaults here (the plan never lets them run)."""
    section = _section(spec, rollback)
    parallelism = section.get("parallelism")
    if parallelism is None:
        parallelism = _label_parallelism(spec)
    delay = seconds(section.get("delay")) if section.get("delay") is not None else 0.0
    monitor = seconds(section.get("monitor")) if section.get("monitor") is not None else DEFAULT_MONITOR
    return UpdateConfig(
        parallelism=int(parallelism) if isinstance(parallelism, int) and parallelism >= 1 else 1,
        delay=delay if delay is not None and delay >= 0 else 0.0,
        order=section.get("order") if section.get("order") in ORDERS else "stop-first",
        failure_action=(section.get("failure_action") if section.get("failure_action") in FAILURE_ACTIONS else "pause"),
        monitor=monitor if monitor is not None and monitor >= 0 else DEFAULT_MONITOR,
        max_failure_ratio=float(section.get("max_failure_ratio") or 0.0),
    )


def problems(spec: dict[str, Any], scale: int, *, is_global: bool = False) -> list[str]:
    """What is wrong with the service's update and rollback settings for ``scale`` containers, as sentences."""
    found: list[str] = []
    for key in ("update_config", "rollback_config"):
        section = (spec.get("deploy") or {}).get(key)
        if not isinstance(section, dict):
            continue
        where = f"deploy.{key}"
        parallelism = section.get("parallelism")
        if parallelism is not None:
            if not isinstance(parallelism, int) or isinstance(parallelism, bool) or parallelism < 1:
                found.append(
                    f"{where}.parallelism must be at least 1 (containers replaced at a time), not {parallelism!r}"
                )
            elif not is_global and scale and parallelism > scale:
                found.append(
                    f"{where}.parallelism is {parallelism}, more than the service's {scale} container(s): "
                    f"choose between 1 and {scale}"
                )
        for field in ("delay", "monitor"):
            if section.get(field) is not None:
                value = seconds(section[field])
                if value is None or value < 0:
                    found.append(
                        f"{where}.{field} must be a duration of zero or more, such as 10s, not {section[field]!r}"
                    )
        ratio = section.get("max_failure_ratio")
        if ratio is not None and (not isinstance(ratio, int | float) or not 0 <= float(ratio) <= 1):
            found.append(f"{where}.max_failure_ratio must be between 0 and 1, not {ratio!r}")
    labelled = _label_parallelism(spec)
    raw = str((spec.get("labels") or {}).get("aliyun.rolling_updates.parallelism", "")).strip()
    if (raw and labelled is None) or labelled == 0:
        found.append(f"label aliyun.rolling_updates.parallelism must be a whole number of at least 1, not {raw!r}")
    elif labelled is not None and not is_global and scale and labelled > scale:
        found.append(
            f"label aliyun.rolling_updates.parallelism is {labelled}, more than the service's {scale} container(s): "
            f"choose between 1 and {scale}"
        )
    return found


def fixed_ports(spec: dict[str, Any], host_port: int | None = None) -> bool:
    """Whether a service publishes a host port of its own choosing (two containers of a replica cannot share it on
    one node): a Compose port with ``published``, or an image application's host port."""
    if host_port:
        return True
    return any(str((port or {}).get("published") or "").isdigit() for port in spec.get("ports") or [])
