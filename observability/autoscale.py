"""Container auto scaling, Alibaba's labels: ``aliyun.auto_scaling.max_cpu`` / ``min_cpu`` (percent of one CPU, the
service's average per container), ``max_memory`` / ``min_memory`` (percent of the containers' memory limit),
``step`` (containers added or removed at once, 1), ``max_instances`` / ``min_instances`` (the bounds, 1 and the scale
limit by default).

Every ``BERTH_AUTOSCALE_INTERVAL`` seconds (beat) each running service with such labels is judged from Prometheus:
``BERTH_AUTOSCALE_SAMPLES`` averages of ``BERTH_AUTOSCALE_WINDOW`` seconds each (Alibaba: three one-minute
averages), the service's mean of them against its limits. Above a max it scales up by the step, below a min (every
min given, and no max crossed) down by the step, within its bounds; a service that scaled automatically less than
``BERTH_AUTOSCALE_COOLDOWN`` seconds ago, or whose application has a release running, waits. Each decision is a
scale release (``apps.operations.scale_service``) whose reason is in its events, its parameters and the operation
log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.models import MAX_SCALE, Application, Release, Service
from clusters.models import Cluster
from observability import metrics

log = logging.getLogger(__name__)

PREFIX = "aliyun.auto_scaling."
KEYS = ("max_cpu", "min_cpu", "max_memory", "min_memory", "step", "max_instances", "min_instances")


@dataclass(frozen=True)
class Rules:
    max_cpu: float | None = None
    min_cpu: float | None = None
    max_memory: float | None = None
    min_memory: float | None = None
    step: int = 1
    max_instances: int = MAX_SCALE
    min_instances: int = 1


def rules_of(labels: dict[str, str]) -> tuple[Rules | None, list[str]]:
    """A service's rules from its labels (None when it has none), and what is wrong with them (pure)."""
    given = {k[len(PREFIX) :]: str(v).strip() for k, v in labels.items() if k.startswith(PREFIX)}
    if not given:
        return None, []
    problems = [f"unknown label {PREFIX}{k} (known: {', '.join(KEYS)})" for k in sorted(set(given) - set(KEYS))]
    values: dict[str, Any] = {}
    for key in KEYS:
        if key not in given:
            continue
        raw = given[key]
        try:
            number = float(raw) if key.endswith(("cpu", "memory")) else int(raw)
        except ValueError:
            problems.append(f"{PREFIX}{key} must be a number, not {raw[:30]!r}")
            continue
        if number < 0 or (key == "step" and number < 1) or (key.endswith("instances") and number < 1):
            problems.append(f"{PREFIX}{key} must be {'1' if key == 'step' or 'instances' in key else '0'} or more")
            continue
        values[key] = number
    rules = Rules(**values)
    if rules.max_instances > MAX_SCALE:
        problems.append(f"{PREFIX}max_instances is at most {MAX_SCALE}")
    if rules.min_instances > rules.max_instances:
        problems.append(f"{PREFIX}min_instances is above max_instances")
    for low, high in (("min_cpu", "max_cpu"), ("min_memory", "max_memory")):
        if values.get(low) is not None and values.get(high) is not None and values[low] >= values[high]:
            problems.append(f"{PREFIX}{low} must be below {high}")
    if all(values.get(k) is None for k in ("max_cpu", "min_cpu", "max_memory", "min_memory")):
        problems.append(f"{PREFIX}*: give at least one of max_cpu, min_cpu, max_memory, min_memory")
    return (None if problems else rules), problems


def refusals(cluster: Cluster, model: dict[str, Any], project: str) -> list[str]:
    """Plan-time refusals of wrong auto scaling labels (``apps.stacks.PLAN_CHECKS``)."""
    found = []
    for name, service in sorted((model.get("services") or {}).items()):
        labels = service.get("labels") or {}
        if isinstance(labels, dict):
            found += [f"services.{name}: {why}" for why in rules_of({str(k): str(v) for k, v in labels.items()})[1]]
    return found


def decide(scale: int, rules: Rules, cpu: float | None, memory: float | None) -> tuple[int, str] | None:
    """The new scale and why, or None (pure). ``cpu`` and ``memory`` are the service's averages (percent)."""
    above = []
    if rules.max_cpu is not None and cpu is not None and cpu > rules.max_cpu:
        above.append(_("average CPU %(v).0f %% is above %(l)s %%") % {"v": cpu, "l": _num(rules.max_cpu)})
    if rules.max_memory is not None and memory is not None and memory > rules.max_memory:
        above.append(_("average memory %(v).0f %% is above %(l)s %%") % {"v": memory, "l": _num(rules.max_memory)})
    if above:
        wanted = min(scale + rules.step, rules.max_instances)
        return (wanted, "; ".join(above)) if wanted > scale else None
    lows = [(rules.min_cpu, cpu, _("CPU")), (rules.min_memory, memory, _("memory"))]
    given = [(limit, value, what) for limit, value, what in lows if limit is not None]
    if given and all(value is not None and value < limit for limit, value, _what in given):
        why = "; ".join(
            _("average %(what)s %(v).0f %% is below %(l)s %%") % {"what": what, "v": value, "l": _num(limit)}
            for limit, value, what in given
        )
        wanted = max(scale - rules.step, rules.min_instances)
        return (wanted, why) if wanted < scale else None
    if 0 < scale < rules.min_instances:  # a service someone scaled to 0 stays stopped
        return rules.min_instances, _("below its minimum of %(n)s containers") % {"n": rules.min_instances}
    return None


def _num(value: float) -> str:
    return f"{value:g}"


def averages(app: Application, service: str) -> tuple[float | None, float | None]:
    """The service's mean CPU and memory (percent of its limit) over the last samples, from Prometheus; None where
    Prometheus has no full set of samples yet."""
    window = int(settings.BERTH_AUTOSCALE_WINDOW)
    samples = int(settings.BERTH_AUTOSCALE_SAMPLES)
    selector = f'application_id="{app.pk}",service="{metrics.escape(service)}"'
    cpu_expr = f"avg(avg_over_time(berth_container_cpu_percent{{{selector}}}[{window}s]))"
    memory_expr = (
        f"avg(avg_over_time(berth_container_memory_bytes{{{selector}}}[{window}s])"
        f" / avg_over_time(berth_container_memory_limit_bytes{{{selector}}}[{window}s])) * 100"
    )
    found = []
    for expr in (cpu_expr, memory_expr):
        series = metrics.query_range(expr, window * (samples - 1), window)
        points = [v for _t, v in series[0]["points"]] if series else []
        found.append(sum(points[-samples:]) / samples if len(points) >= samples else None)
    return found[0], found[1]


def run_once(now: Any = None) -> list[Release]:
    """Judge every running service with auto scaling rules once; the scale releases it started."""
    from apps import operations

    now = now or timezone.now()
    started: list[Release] = []
    cooldown = timedelta(seconds=float(settings.BERTH_AUTOSCALE_COOLDOWN))
    services = Service.objects.filter(
        application__deleted_at__isnull=True, application__status=Application.Status.RUNNING
    ).select_related("application__cluster", "application__tenant")
    for service in services:
        rules, _problems = rules_of({str(k): str(v) for k, v in (service.spec.get("labels") or {}).items()})
        app = service.application
        if rules is None or service.scale == 0 or not metrics.monitoring(app.cluster_id):
            continue  # no rules, stopped on purpose, or not monitored
        if Release.objects.filter(application=app, status__in=Release.ACTIVE).exists():
            continue
        last = (
            Release.objects.filter(
                application=app, kind=Release.Kind.SCALE, params__auto=True, params__service=service.name
            )
            .order_by("-id")
            .values_list("created_at", flat=True)
            .first()
        )
        if last is not None and now - last < cooldown:
            continue
        try:
            cpu, memory = averages(app, service.name)
        except metrics.PrometheusUnavailable as exc:
            log.warning("autoscale: %s", exc)
            return started
        decision = decide(service.scale, rules, cpu, memory)
        if decision is None:
            continue
        scale, why = decision
        reason = _("Auto scaling %(service)s from %(a)s to %(b)s containers: %(why)s.") % {
            "service": service.name,
            "a": service.scale,
            "b": scale,
            "why": why,
        }
        owner = app.tenant.users.filter(is_primary=True).first()
        try:
            started.append(operations.scale_service(owner, app, service.name, scale, reason=reason))
        except Exception as exc:  # noqa: BLE001 - another release came first: the next round judges again
            log.info("autoscale: %s/%s not scaled now: %s", app.name, service.name, exc)
    return started
