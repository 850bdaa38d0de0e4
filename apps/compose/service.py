"""One service's keys: which Berth supports, and the canonical form of each (as ``docker compose config``).

SERVICE_FIELDS maps each supported key to its checker; UNSUPPORTED maps Compose keys Berth refuses to the
reason given to the user. Keys that are neither (and are not ``x-*`` extensions, which are dropped as
Compose drops them from services) are refused as unknown.
"""

from __future__ import annotations

import re
from typing import Any

from . import fields as f
from .aliyun import check_hint_keys
from .fields import INVALID, Checker, mapping_of, one_of, type_name
from .model import Problems, join_path
from .ports import devices, expose, ports
from .scalars import scalar_text

UNSUPPORTED = {
    "build": "Berth deploys images from a registry and never builds them; push the image and set image",
    "env_file": "Berth cannot read files from your machine; put the variables under environment",
    "label_file": "Berth cannot read files from your machine; put the labels under labels",
    "secrets": "Berth does not manage swarm secrets yet; pass them through environment or a volume",
    "configs": "Berth does not manage swarm configs yet; use a volume instead",
    "profiles": "Berth deploys every service of an application; remove profiles",
    "develop": "development watch mode has no meaning on a swarm",
    "models": "AI model services are not available on Berth clusters",
    "gpus": "Berth nodes have no GPUs to hand out",
    "runtime": "Berth runs containers with the nodes' default runtime",
    "provider": "provider services are not available on Berth",
}
"""Compose service keys that Berth refuses, with the reason."""

COMPOSE_ONLY = frozenset(
    "annotations attach blkio_config cgroup cgroup_parent cpu_count cpu_percent cpu_period cpu_quota cpu_rt_period "
    "cpu_rt_runtime cpuset credential_spec device_cgroup_rules dns_opt group_add isolation mac_address "
    "mem_swappiness oom_kill_disable oom_score_adj post_start pre_stop storage_opt use_api_socket "
    "userns_mode uts volume_driver".split()
)
"""Other Compose service keys: valid Compose, but outside what Berth deploys."""

RESTART_POLICY = re.compile(r"^(no|always|unless-stopped|on-failure(:\d+)?)$")
NETWORK_MODE = re.compile(r"^(none|host|bridge|service:[^:\s]+|container:[^:\s]+)$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")


def restart(value: Any, path: str, problems: Problems) -> Any:
    """restart: no, always, unless-stopped, on-failure[:N]."""
    if not isinstance(value, str) or not RESTART_POLICY.match(value):
        problems.add(path, f"must be no, always, unless-stopped or on-failure[:N], not {value!r}")
        return INVALID
    return value


def pids_limit(value: Any, path: str, problems: Problems) -> Any:
    """pids_limit: the most processes the container may run, or -1 for no limit. 0 is refused as ambiguous (Compose
    drops it as unset; Docker reads it as no limit)."""
    parsed = f.integer(value, path, problems)
    if parsed is not INVALID and parsed < 1 and parsed != -1:
        problems.add(path, f"must be -1 (no limit) or a number of processes of 1 or more, not {parsed}")
        return INVALID
    return parsed


def network_mode(value: Any, path: str, problems: Problems) -> Any:
    """network_mode: none, host, bridge, service:NAME or container:NAME."""
    if not isinstance(value, str) or not NETWORK_MODE.match(value):
        problems.add(path, f"must be none, host, bridge, service:NAME or container:NAME, not {value!r}")
        return INVALID
    return value


def healthcheck_test(value: Any, path: str, problems: Problems) -> Any:
    """healthcheck.test: a shell string (becomes ``["CMD-SHELL", s]``) or ``["CMD"|"CMD-SHELL"|"NONE", ...]``."""
    if isinstance(value, str):
        return ["CMD-SHELL", value]
    items = f.string_list(value, path, problems)
    if items is INVALID:
        return INVALID
    if not items or items[0] not in ("CMD", "CMD-SHELL", "NONE"):
        problems.add(path, 'a list test must start with "CMD", "CMD-SHELL" or "NONE"')
        return INVALID
    return items


_healthcheck = mapping_of(
    {
        "test": healthcheck_test,
        "interval": f.duration,
        "timeout": f.duration,
        "start_period": f.duration,
        "start_interval": f.duration,
        "retries": f.count,
        "disable": f.boolean,
    }
)


def ulimits(value: Any, path: str, problems: Problems) -> Any:
    """ulimits: ``NAME: N`` or ``NAME: {soft: N, hard: M}`` with soft no more than hard."""
    if not isinstance(value, dict):
        problems.add(path, f"must be a mapping, not {type_name(value)}")
        return INVALID
    result: dict[str, Any] = {}
    for name, limit in value.items():
        limit_path = join_path(path, name)
        if isinstance(limit, dict):
            checked = mapping_of({"soft": f.integer, "hard": f.integer}, required=("soft", "hard"))(
                limit, limit_path, problems
            )
            if "soft" in checked and "hard" in checked:
                if checked["soft"] > checked["hard"]:
                    problems.add(limit_path, f"soft limit {checked['soft']} is above hard limit {checked['hard']}")
                result[name] = {key: checked[key] for key in ("soft", "hard") if checked[key] != 0}
        else:
            checked = f.integer(limit, limit_path, problems)
            if checked is not INVALID:
                result[name] = checked if checked != 0 else {}
    return result


_update_config = mapping_of(
    {
        "parallelism": f.count,
        "delay": f.duration,
        "failure_action": one_of("continue", "rollback", "pause"),
        "monitor": f.duration,
        "max_failure_ratio": f.number,
        "order": one_of("start-first", "stop-first"),
    }
)
_limits = mapping_of({"cpus": f.number, "memory": f.byte_size_text, "pids": f.integer})
_reservations = mapping_of({"cpus": f.number, "memory": f.byte_size_text})


def _preferences(value: Any, path: str, problems: Problems) -> Any:
    """placement.preferences: a list of ``{spread: LABEL}``."""
    if not isinstance(value, list):
        problems.add(path, f"must be a list, not {type_name(value)}")
        return INVALID
    checker = mapping_of({"spread": f.string}, required=("spread",))
    checked = [checker(item, join_path(path, index), problems) for index, item in enumerate(value)]
    return [item for item in checked if item is not INVALID]


_deploy_fields = mapping_of(
    {
        "mode": one_of("replicated", "global"),
        "replicas": f.count,
        "labels": f.labels,
        "endpoint_mode": one_of("vip", "dnsrr"),
        "update_config": _update_config,
        "rollback_config": _update_config,
        "resources": mapping_of({"limits": _limits, "reservations": _reservations}),
        "restart_policy": mapping_of(
            {
                "condition": one_of("none", "on-failure", "any"),
                "delay": f.duration,
                "max_attempts": f.count,
                "window": f.duration,
            }
        ),
        "placement": mapping_of(
            {"constraints": f.string_list, "preferences": _preferences, "max_replicas_per_node": f.count}
        ),
    }
)


def deploy(value: Any, path: str, problems: Problems) -> Any:
    """deploy: swarm settings; Compose always prints ``resources`` and ``placement`` (empty when unset)."""
    checked = _deploy_fields(value, path, problems)
    if checked is INVALID:
        return INVALID
    checked.setdefault("resources", {})
    checked.setdefault("placement", {})
    return checked


DEPENDS_CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
_dependency = mapping_of({"condition": one_of(*DEPENDS_CONDITIONS), "required": f.boolean, "restart": f.boolean})


def depends_on(value: Any, path: str, problems: Problems) -> Any:
    """depends_on: a list of services, or a mapping with condition/required/restart, as the long form."""
    names = value if isinstance(value, list) else None
    if names is not None:
        result = {}
        for index, name in enumerate(names):
            if not isinstance(name, str):
                problems.add(join_path(path, index), f"must be a service name, not {type_name(name)}")
                continue
            result[name] = {"condition": "service_started", "required": True}
        return result
    if not isinstance(value, dict):
        problems.add(path, f"must be a list of services or a mapping, not {type_name(value)}")
        return INVALID
    result = {}
    for name, options in value.items():
        checked = _dependency(options if options is not None else {}, join_path(path, name), problems)
        if checked is INVALID:
            continue
        entry = {"condition": checked.get("condition", "service_started")}
        if "restart" in checked:
            entry["restart"] = checked["restart"]
        entry["required"] = checked.get("required", True)
        result[name] = entry
    return result


_network_attachment = mapping_of(
    {
        "aliases": f.unique_strings,
        "ipv4_address": f.string,
        "ipv6_address": f.string,
        "link_local_ips": f.unique_strings,
        "priority": f.integer,
    }
)


def service_networks(value: Any, path: str, problems: Problems) -> Any:
    """networks of a service: a list of names, or a mapping of name to null or attachment options."""
    if isinstance(value, list):
        result: dict[str, Any] = {}
        for index, name in enumerate(value):
            if not isinstance(name, str):
                problems.add(join_path(path, index), f"must be a network name, not {type_name(name)}")
            else:
                result[name] = None
        return result
    if not isinstance(value, dict):
        problems.add(path, f"must be a list of networks or a mapping, not {type_name(value)}")
        return INVALID
    result = {}
    for name, options in value.items():
        checked = None if options is None else _network_attachment(options, join_path(path, name), problems)
        if checked is not INVALID:
            result[name] = checked
    return result


def logging(value: Any, path: str, problems: Problems) -> Any:
    """logging: ``{driver, options}`` with option values as strings."""
    return mapping_of({"driver": f.string, "options": f.labels})(value, path, problems)


def extra_hosts(value: Any, path: str, problems: Problems) -> Any:
    """extra_hosts: ``HOST:IP``/``HOST=IP`` strings or a mapping, printed as sorted ``HOST=IP`` strings."""
    pairs: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for host, addresses in value.items():
            for address in addresses if isinstance(addresses, list) else [addresses]:
                pairs.append((host, scalar_text(address) if address is not None else ""))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if not isinstance(item, str):
                problems.add(join_path(path, index), f'must be "HOST:IP", not {type_name(item)}')
                continue
            separator = "=" if "=" in item else ":"
            host, _, address = item.partition(separator)
            pairs.append((host, address))
    else:
        problems.add(path, f"must be a list or a mapping, not {type_name(value)}")
        return INVALID
    result = []
    for host, address in pairs:
        address = address.strip()
        if address.startswith("[") and address.endswith("]"):
            address = address[1:-1]
        if not _HOST.match(host) or not address:
            problems.add(path, f'"{host}:{address}" is not a host entry: expected HOST:IP')
            continue
        entry = f"{host}={address}"
        if entry not in result:
            result.append(entry)
    return sorted(result, key=lambda entry: entry.partition("=")[0])


SERVICE_FIELDS: dict[str, Checker] = {
    "image": f.string,
    "command": f.shell_words,
    "entrypoint": f.shell_words,
    "environment": f.environment,
    "labels": f.labels,
    "ports": ports,
    "expose": expose,
    "devices": devices,
    "depends_on": depends_on,
    "links": f.unique_strings,
    "external_links": f.string_list,
    "volumes_from": f.string_list,
    "networks": service_networks,
    "network_mode": network_mode,
    "healthcheck": _healthcheck,
    "ulimits": ulimits,
    "deploy": deploy,
    "logging": logging,
    "extra_hosts": extra_hosts,
    "sysctls": f.labels,
    "tmpfs": f.unique_strings,
    "cap_add": f.unique_strings,
    "cap_drop": f.unique_strings,
    "dns": f.unique_strings,
    "dns_search": f.unique_strings,
    "security_opt": f.string_list,
    "restart": restart,
    "mem_limit": f.byte_size,
    "mem_reservation": f.byte_size,
    "memswap_limit": f.byte_size,
    "shm_size": f.byte_size,
    "cpus": f.number,
    "cpu_shares": f.integer,
    "pids_limit": pids_limit,
    "scale": f.count,
    "stop_grace_period": f.duration,
    "stop_signal": f.string,
    "hostname": f.string,
    "domainname": f.string,
    "user": f.string,
    "working_dir": f.string,
    "container_name": f.string,
    "platform": f.string,
    "pull_policy": one_of("always", "never", "missing", "if_not_present"),
    "pid": f.string,
    "ipc": f.string,
    "init": f.boolean,
    "privileged": f.boolean,
    "read_only": f.boolean,
    "stdin_open": f.boolean,
    "tty": f.boolean,
}
"""Service keys Berth supports, each with the checker giving its canonical form."""

LIST_MERGE_UNIQUE = frozenset({"links", "tmpfs", "cap_add", "cap_drop", "dns", "dns_search", "expose", "extra_hosts"})
"""List keys whose merged items are kept once each (Compose's unicity rules)."""


def check_service(name: str, raw: Any, path: str, problems: Problems, workdir: str) -> dict[str, Any] | None:
    """The canonical form of one service's keys (volumes need the working directory for relative binds)."""
    from .volumes import volumes

    if not isinstance(raw, dict):
        problems.add(path, f"a service must be a mapping of settings, not {type_name(raw)}")
        return None
    service: dict[str, Any] = {}
    for key, value in raw.items():
        key_path = join_path(path, key)
        if key.startswith("x-") or key == "extends":
            continue
        if key in UNSUPPORTED:
            problems.add(key_path, f'"{key}" is not supported by Berth: {UNSUPPORTED[key]}')
            continue
        if key in COMPOSE_ONLY:
            problems.add(key_path, f'"{key}" is not supported by Berth (service "{name}")')
            continue
        if key == "volumes":
            checked = volumes(value, key_path, problems, workdir) if value is not None else INVALID
        elif key not in SERVICE_FIELDS:
            problems.add(key_path, f'unknown key "{key}" in service "{name}"')
            continue
        elif value is None and key in ("command", "entrypoint"):
            checked = None
        elif value is None:
            continue
        else:
            checked = SERVICE_FIELDS[key](value, key_path, problems)
            if key == "environment" and isinstance(value, list):
                check_hint_keys(value, key_path, problems)
        if checked is not INVALID:
            service[key] = checked
    return service
