"""Alibaba Cloud Container Service (swarm edition) extensions: ``aliyun.*`` labels and scheduling hints.

Labels (values are strings, as all labels are):

* ``aliyun.scale`` (integer, 0 or more) and ``aliyun.global`` (``true``/``false``): how many containers;
* ``aliyun.depends``: comma-separated services to start first (they must exist; cycles are refused);
* ``aliyun.latest_image`` (boolean): pull the image again on every deployment;
* ``aliyun.probe.url`` (``http(s)://container[:PORT]/PATH`` or ``tcp://container:PORT``) or
  ``aliyun.probe.cmd``, with ``aliyun.probe.timeout_seconds`` and ``aliyun.probe.initial_delay_seconds``;
* kept for later features: ``aliyun.rolling_updates`` (+``.parallelism``), ``aliyun.routing.port_N``
  (``domain[;domain...]`` or ``http://domain/path`` entries), ``aliyun.routing.session_sticky``,
  ``aliyun.lb.port_N`` (``tcp://LB_NAME:PORT``), ``aliyun.auto_scaling.*`` and ``aliyun.schedule``;
* log collection: ``aliyun.logs.NAME`` (``stdout``, or an absolute path inside the container, globs allowed),
  with ``aliyun.logs.NAME.format`` (none, json, csv, nginx, apache2, regexp + ``.format.pattern``),
  ``aliyun.logs.NAME.tags`` (``k=v,k2=v2``) and ``aliyun.logs.NAME.target`` (where the collector stores it);
* timed and one-off tasks: ``aliyun.retry_count`` (0 or more) and ``aliyun.remove_containers``
  (remove-none, remove-finished, remove-failed or remove-all).

A malformed value of a known label is refused; an ``aliyun.*`` label Berth does not know is a warning (it stays
on the containers, and nothing reads it), so templates written for Alibaba's console load unchanged.

Scheduling hints come from environment entries, as the swarm edition reads them: ``constraint:L==V``,
``constraint:L!=V``, soft ``==~``/``!=~``; ``affinity:service==S``, ``affinity:container!=GLOB`` (also
``image``); ``availability:az==N``; ``reschedule:on-node-failure``; plus ``deploy.placement.constraints``.
The model is left as Compose prints it: hints stay in the environment, they are only parsed here.
"""

from __future__ import annotations

import re
from typing import Any

from . import claims
from .model import (
    REMOVE_CONTAINERS,
    AliyunLabels,
    ComposeError,
    LogSpec,
    ProbeSpec,
    Problems,
    Rule,
    SchedulingHints,
    join_path,
)

PREFIX = "aliyun."
_PORT_LABEL = re.compile(r"^aliyun\.(routing|lb)\.port_(\d+)$")
_PROBE_URL = re.compile(r"^(?P<scheme>https?|tcp)://container(?::(?P<port>\d+))?(?P<path>/[^\s]*)?$")
_HINT = re.compile(r"^(constraint|affinity):([^=!~]+?)(==|!=)(~?)(.*)$", re.DOTALL)
_PLACEMENT = re.compile(r"^\s*((?:node|engine)\.[A-Za-z0-9_.-]+)\s*(==|!=)\s*(\S.*?)\s*$")
_PLACEMENT_KEYS = ("node.id", "node.hostname", "node.role", "node.platform.os", "node.platform.arch")
AFFINITY_KEYS = ("service", "container", "image")
HINT_PREFIXES = ("constraint:", "affinity:", "availability:", "reschedule:")
LOGS = "aliyun.logs."
_LOG_NAME = re.compile(r"[0-9A-Za-z_-]+")
_LOG_PATH = re.compile(r"/[^\x00-\x1f\x7f]*")
_LOG_TARGET = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
LOG_FORMATS = ("none", "json", "csv", "nginx", "apache2", "regexp")
LOG_OPTIONS = ("format", "format.pattern", "tags", "target")


def _flag(value: str, path: str, label: str, problems: Problems) -> bool:
    """A boolean label: ``true`` or ``false``."""
    if value.lower() not in ("true", "false"):
        problems.add(path, f'label {label} must be "true" or "false", not {value!r}')
        return False
    return value.lower() == "true"


def _number(value: str, path: str, label: str, problems: Problems, minimum: int) -> int | None:
    """An integer label of at least ``minimum``."""
    if not re.fullmatch(r"[0-9]+", value.strip()) or int(value) < minimum:
        problems.add(path, f"label {label} must be a whole number of at least {minimum}, not {value!r}")
        return None
    return int(value)


def _routes(value: str, path: str, label: str, problems: Problems) -> tuple[str, ...]:
    """``aliyun.routing.port_N``: ``entry[;entry...]``, each ``[http://|https://]domain-or-prefix[/path]``
    (``apps.compose.claims``; a prefix goes under the cluster's root domain when the application is planned)."""
    entries = tuple(entry.strip() for entry in value.split(";") if entry.strip())
    if not entries:
        problems.add(path, f"label {label} needs at least one domain")
    for entry in entries:
        _claim, why = claims.parse_entry(entry, 1, "root.invalid")
        if why:
            problems.add(path, f"label {label}: {why}")
    return entries


def _unknown(label: str, path: str, problems: Problems) -> None:
    """An ``aliyun.*`` label Berth does not know: a warning, not a refusal."""
    problems.warn(path, f"unknown Alibaba label {label}: it stays on the containers, but Berth does nothing with it")


def _log_source(name: str, value: str, path: str, problems: Problems) -> str:
    """``aliyun.logs.NAME``: ``stdout`` or an absolute path inside the container (globs allowed, no ``..``)."""
    source = value.strip()
    if source == "stdout":
        return source
    if not _LOG_PATH.fullmatch(source) or ".." in source.split("/"):
        problems.add(
            path,
            f"label {LOGS}{name} must be stdout or an absolute path inside the container (globs allowed, no ..), "
            f"not {value!r}",
        )
    return source


def _log_tags(name: str, value: str, path: str, problems: Problems) -> dict[str, str]:
    """``aliyun.logs.NAME.tags``: ``key=value`` pairs separated by commas."""
    tags: dict[str, str] = {}
    for entry in (item.strip() for item in value.split(",")):
        key, found, tag = entry.partition("=")
        if not found or not key.strip() or " " in key.strip():
            problems.add(path, f"label {LOGS}{name}.tags must be key=value pairs separated by commas, not {value!r}")
            return {}
        tags[key.strip()] = tag.strip()
    return tags


def _logs(labels: dict[str, str], path: str, problems: Problems) -> dict[str, LogSpec]:
    """The ``aliyun.logs.*`` labels: one LogSpec per log name."""
    sources: dict[str, str] = {}
    options: dict[str, dict[str, str]] = {}
    for label, value in labels.items():
        if not label.startswith(LOGS):
            continue
        name, dot, option = label[len(LOGS) :].partition(".")
        if not _LOG_NAME.fullmatch(name):
            problems.add(path, f"label {label}: a log name holds letters, digits, _ and - only, not {name!r}")
        elif not dot:
            sources[name] = _log_source(name, value, path, problems)
        elif option in LOG_OPTIONS:
            options.setdefault(name, {})[option] = value
        else:
            _unknown(label, path, problems)
    for name in options:
        if name not in sources:
            problems.add(
                path, f"labels {LOGS}{name}.* describe a log that no label {LOGS}{name} (stdout or a path) names"
            )
    found = {}
    for name, source in sources.items():
        given = options.get(name, {})
        log_format = given.get("format")
        if log_format is not None and log_format not in LOG_FORMATS:
            problems.add(path, f"label {LOGS}{name}.format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
        pattern = given.get("format.pattern")
        if log_format == "regexp" and not (pattern or "").strip():
            problems.add(path, f"label {LOGS}{name}.format regexp needs {LOGS}{name}.format.pattern")
        elif pattern is not None and log_format != "regexp":
            problems.add(path, f"label {LOGS}{name}.format.pattern needs {LOGS}{name}.format: regexp")
        target = given.get("target")
        if target is not None and not _LOG_TARGET.fullmatch(target):
            problems.add(
                path, f"label {LOGS}{name}.target must be a name of letters, digits, _, . and -, not {target!r}"
            )
        tags = _log_tags(name, given["tags"], path, problems) if "tags" in given else {}
        found[name] = LogSpec(name, source, log_format, pattern, tags, target)
    return found


def _probe(labels: dict[str, str], path: str, problems: Problems) -> ProbeSpec | None:
    """The ``aliyun.probe.*`` labels."""
    url = labels.get("aliyun.probe.url")
    cmd = labels.get("aliyun.probe.cmd")
    timeout = labels.get("aliyun.probe.timeout_seconds")
    delay = labels.get("aliyun.probe.initial_delay_seconds")
    if url is None and cmd is None and timeout is None and delay is None:
        return None
    if url is not None:
        match = _PROBE_URL.match(url)
        if not match:
            problems.add(
                path,
                f"label aliyun.probe.url must be http://container[:PORT]/PATH or tcp://container:PORT, not {url!r}",
            )
        elif match.group("port") is not None and not 1 <= int(match.group("port")) <= 65535:
            problems.add(path, f"label aliyun.probe.url: port {match.group('port')} is out of range (1-65535)")
        elif match.group("scheme") == "tcp" and (match.group("port") is None or match.group("path")):
            problems.add(path, f"label aliyun.probe.url: a tcp probe is tcp://container:PORT, not {url!r}")
    if cmd is not None and not cmd.strip():
        problems.add(path, "label aliyun.probe.cmd must not be empty")
    if url is not None and cmd is not None:
        problems.add(path, "labels aliyun.probe.url and aliyun.probe.cmd cannot both be set")
    if url is None and cmd is None:
        problems.add(path, "aliyun.probe.* timings need aliyun.probe.url or aliyun.probe.cmd")
    return ProbeSpec(
        url=url,
        cmd=cmd,
        timeout_seconds=None
        if timeout is None
        else _number(timeout, path, "aliyun.probe.timeout_seconds", problems, 1),
        initial_delay_seconds=None
        if delay is None
        else _number(delay, path, "aliyun.probe.initial_delay_seconds", problems, 0),
    )


def parse_labels(labels: dict[str, str], service: str, services: set[str] | None, problems: Problems) -> AliyunLabels:
    """The ``aliyun.*`` labels of one service (problems at ``services.NAME.labels``)."""
    path = join_path(join_path("services", service), "labels")
    values: dict[str, Any] = {"routing": {}, "lb": {}, "auto_scaling": {}}
    for label, value in labels.items():
        if not label.startswith(PREFIX):
            continue
        port_label = _PORT_LABEL.match(label)
        if label == "aliyun.scale":
            values["scale"] = _number(value, path, label, problems, 0)
        elif label == "aliyun.global":
            values["global_"] = _flag(value, path, label, problems)
        elif label == "aliyun.depends":
            names = tuple(name.strip() for name in value.split(",") if name.strip())
            for name in names:
                if name == service:
                    problems.add(path, f"label aliyun.depends: service {service!r} cannot depend on itself")
                elif services is not None and name not in services:
                    problems.add(path, f'label aliyun.depends names undefined service "{name}"')
            values["depends"] = names
        elif label in ("aliyun.latest_image", "aliyun.rolling_updates", "aliyun.routing.session_sticky"):
            key = {"aliyun.routing.session_sticky": "routing_session_sticky"}.get(label, label[len(PREFIX) :])
            values[key] = _flag(value, path, label, problems)
        elif label == "aliyun.rolling_updates.parallelism":
            values["rolling_updates_parallelism"] = _number(value, path, label, problems, 1)
        elif label.startswith("aliyun.probe."):
            if label not in (
                "aliyun.probe.url",
                "aliyun.probe.cmd",
                "aliyun.probe.timeout_seconds",
                "aliyun.probe.initial_delay_seconds",
            ):
                _unknown(label, path, problems)
        elif port_label:
            port = int(port_label.group(2))
            if not 1 <= port <= 65535:
                problems.add(path, f"label {label}: container port {port} is out of range (1-65535)")
            elif port_label.group(1) == "routing":
                values["routing"][port] = _routes(value, path, label, problems)
            else:
                _claim, why = claims.listener_of(label, value)
                if why:
                    problems.add(path, why)
                else:
                    values["lb"][port] = value
        elif label.startswith("aliyun.auto_scaling.") and len(label) > len("aliyun.auto_scaling."):
            values["auto_scaling"][label[len("aliyun.auto_scaling.") :]] = value
        elif label == "aliyun.schedule":
            if not value.strip():
                problems.add(path, "label aliyun.schedule must not be empty")
            values["schedule"] = value
        elif label == "aliyun.retry_count":
            values["retry_count"] = _number(value, path, label, problems, 0)
        elif label == "aliyun.remove_containers":
            if value not in REMOVE_CONTAINERS:
                problems.add(path, f"label {label} must be one of {', '.join(REMOVE_CONTAINERS)}, not {value!r}")
            values["remove_containers"] = value
        elif not label.startswith(LOGS):
            _unknown(label, path, problems)
    values["probe"] = _probe(labels, path, problems)
    values["logs"] = _logs(labels, path, problems)
    return AliyunLabels(**values)


def _hint_text(key: str, value: str | None) -> str:
    """An environment entry as it was written (``constraint:zone==a`` is stored as key + ``=`` + value)."""
    return key if value is None else f"{key}={value}"


def parse_hints(service: dict[str, Any], name: str, problems: Problems) -> SchedulingHints:
    """Scheduling hints of one service: environment entries and deploy.placement.constraints."""
    path = join_path(join_path("services", name), "environment")
    constraints: list[Rule] = []
    affinities: list[Rule] = []
    zones: int | None = None
    reschedule = False
    for key, value in service.get("environment", {}).items():
        if not key.startswith(HINT_PREFIXES):
            continue
        text = _hint_text(key, value)
        match = _HINT.match(text)
        if text == "reschedule:on-node-failure":
            reschedule = True
        elif text.startswith("availability:"):
            zone = re.fullmatch(r"availability:az==([0-9]+)", text)
            if not zone or int(zone.group(1)) < 1:
                problems.add(
                    path, f'scheduling hint "{text}" is malformed: expected availability:az==N with N 1 or more'
                )
            else:
                zones = int(zone.group(1))
        elif not match or not match.group(5).strip():
            problems.add(
                path,
                f'scheduling hint "{text}" is malformed: expected constraint:LABEL==VALUE, '
                "affinity:service==NAME, availability:az==N or reschedule:on-node-failure (!= and ~ allowed)",
            )
        elif match.group(1) == "affinity" and match.group(2) not in AFFINITY_KEYS:
            problems.add(path, f'scheduling hint "{text}": affinity applies to {", ".join(AFFINITY_KEYS)}')
        else:
            rule = Rule(match.group(1), match.group(2), match.group(3), match.group(5), soft=bool(match.group(4)))
            (constraints if rule.kind == "constraint" else affinities).append(rule)
    placement = service.get("deploy", {}).get("placement", {}).get("constraints", [])
    for index, text in enumerate(placement):
        where = join_path(join_path(join_path(join_path("services", name), "deploy"), "placement.constraints"), index)
        match = _PLACEMENT.match(text)
        key = match.group(1) if match else ""
        if not match or not (key in _PLACEMENT_KEYS or key.startswith(("node.labels.", "engine.labels."))):
            problems.add(
                where,
                f'placement constraint "{text}" is malformed: expected node.labels.L==V, '
                "node.hostname!=H, node.role==manager...",
            )
            continue
        constraints.append(Rule("constraint", key, match.group(2), match.group(3)))
    return SchedulingHints(tuple(constraints), tuple(affinities), zones, reschedule)


def check_hint_keys(raw: list[Any], path: str, problems: Problems) -> None:
    """Refuse two hints of one environment list that Compose would merge into one key (keeping only the last).

    ``affinity:service!=a`` and ``affinity:service!=b`` are both the variable ``affinity:service!``: Compose keeps
    the last, so the first would be dropped without a word.
    """
    first: dict[str, str] = {}
    for item in raw:
        if not isinstance(item, str) or not item.startswith(HINT_PREFIXES):
            continue
        key = item.partition("=")[0]
        if key in first:
            problems.add(
                path,
                f'scheduling hints "{first[key]}" and "{item}" are the same variable "{key}" to '
                "Compose, which keeps only the last; write one hint per key",
            )
        else:
            first[key] = item


def _service(model: dict[str, Any], service: str) -> dict[str, Any]:
    """A service of a loaded model, or KeyError naming it."""
    try:
        return model["services"][service]
    except KeyError:
        raise KeyError(f"no service {service!r} in this model") from None


def labels_of(model: dict[str, Any], service: str) -> dict[str, str]:
    """The normalized labels of one service of a loaded model."""
    return dict(_service(model, service).get("labels", {}))


def aliyun_labels(model: dict[str, Any], service: str) -> AliyunLabels:
    """The parsed ``aliyun.*`` labels of one service; ComposeError if one is malformed."""
    problems = Problems()
    parsed = parse_labels(labels_of(model, service), service, set(model["services"]), problems)
    problems.raise_if_any()
    return parsed


def scheduling_hints(model: dict[str, Any], service: str) -> SchedulingHints:
    """The scheduling hints of one service; ComposeError if one is malformed."""
    problems = Problems()
    hints = parse_hints(_service(model, service), service, problems)
    problems.raise_if_any()
    return hints


def service_scale(model: dict[str, Any], service: str) -> int:
    """How many containers: aliyun.scale, else deploy.replicas, else scale, else 1."""
    labels = aliyun_labels(model, service)
    definition = _service(model, service)
    if labels.scale is not None:
        return labels.scale
    replicas = definition.get("deploy", {}).get("replicas")
    if replicas is not None:
        return replicas
    return definition.get("scale", 1)


def is_global(model: dict[str, Any], service: str) -> bool:
    """Whether one container runs on every node: aliyun.global, or deploy.mode global."""
    return aliyun_labels(model, service).global_ or _service(model, service).get("deploy", {}).get("mode") == "global"


__all__ = [
    "ComposeError",
    "aliyun_labels",
    "is_global",
    "labels_of",
    "parse_hints",
    "parse_labels",
    "scheduling_hints",
    "service_scale",
]
