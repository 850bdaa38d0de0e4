"""The cluster security policy: what a sub-account may not deploy unless the primary account allows it.

Pure: a normalized Compose model and a policy in, the list of refusals out (each names the service
and the key). The primary account is not limited; it relaxes the policy per cluster.

Every Compose field that reaches the host or another application is checked, and checked by allow lists
(anything unknown is refused):

* ``cap_add``: only capabilities a container has by Docker's default anyway (case and the ``CAP_``
  prefix do not matter, as they do not for Docker); anything else needs ``allow_privileged``. Dropping is free.
* ``security_opt`` (only ``no-new-privileges``), ``sysctls`` (only the namespaced, safe ones), ``privileged``
  and the keys Berth does not run (``runtime``, ``cgroup_parent``…): ``allow_privileged``.
* ``network_mode``, ``pid``, ``ipc``, ``uts``, ``userns_mode``: the host's namespaces need
  ``allow_host_namespaces``; ``container:NAME`` may only name a container of the same application
  (``<app>_<service>_<n>`` of one of its services), ``service:NAME`` only one of its services, and
  ``volumes_from`` likewise.
* bind mounts: the Docker socket needs ``allow_docker_socket``; any other source must be exactly one of the
  ``bind_allow`` directories. A path *below* an allowed directory is refused: the host resolves symlinks in a
  bind source when the container starts, so a first application that writes into the allowed directory
  could plant a symlink there and a second one would mount whatever it points to. For the same reason an
  allowed directory inside another allowed directory is refused, and a directory holding the Docker socket
  needs ``allow_docker_socket``. A named volume backed by a host path (``driver_opts.device``) is refused.
* ``devices``, ``device_cgroup_rules``: ``allow_devices``.
* ``ports`` with a ``host_ip``: published ports bind to the node's publish address unless ``allow_host_ip``.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any

from clusters.security_policy import DEFAULTS

DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
DEFAULT_CAPABILITIES = frozenset(
    "AUDIT_WRITE CHOWN DAC_OVERRIDE FOWNER FSETID KILL MKNOD NET_BIND_SERVICE NET_RAW SETFCAP SETGID SETPCAP "
    "SETUID SYS_CHROOT".split()
)
"""What Docker gives every container: adding one of these back (after ``cap_drop: [ALL]``) grants nothing new."""
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ping_group_range",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_syncookies",
    }
)
"""Namespaced sysctls that affect only the container (Kubernetes' "safe" set)."""
SAFE_SECURITY_OPTS = frozenset({"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"})
PRIVILEGED_KEYS = ("runtime", "isolation", "cgroup_parent", "cgroup", "credential_spec", "oom_kill_disable")
"""Keys the loader refuses today; refused here too, so that a loader that learns them does not open the host."""
IPC_OWN = ("", "private", "shareable", "none")
NETWORK_OWN = ("", "bridge", "none", "default")
_INDEX = re.compile(r"^[1-9][0-9]{0,5}$")


def effective(policy: Mapping[str, Any] | None) -> dict[str, Any]:
    """The policy with defaults for what it does not say."""
    return {**DEFAULTS, **(policy or {})}


def capability(name: Any) -> str:
    """A capability as Docker reads it: upper case, without the ``CAP_`` prefix (``cap_sys_admin`` → SYS_ADMIN)."""
    text = str(name).strip().upper()
    return text.removeprefix("CAP_")


def _clean(path: str) -> str:
    """An absolute path without ``.``, ``..``, repeated or trailing slashes."""
    cleaned = posixpath.normpath("/" + path.strip())
    return "/" + cleaned.lstrip("/") if cleaned != "/" else "/"


def _inside(path: str, directory: str) -> bool:
    """Whether ``path`` is strictly below ``directory`` (both clean)."""
    if directory == "/":
        return path != "/"
    return path.startswith(directory + "/")


def own_container(name: str, project: str, services: Mapping[str, Any]) -> bool:
    """Whether ``name`` is a container Berth makes for this application: ``<project>_<service>_<n>``.

    Application names have no ``_``, so the name says unambiguously which application it belongs to, and
    no container id (hexadecimal) can look like it.
    """
    prefix = f"{project}_"
    if not project or not name.startswith(prefix):
        return False
    service, _sep, index = name[len(prefix) :].rpartition("_")
    return service in services and bool(_INDEX.match(index))


class _Check:
    """The refusals of one model under one policy."""

    def __init__(self, model: Mapping[str, Any], policy: Mapping[str, Any] | None, project: str) -> None:
        self.rules = effective(policy)
        self.services: Mapping[str, Any] = model.get("services") or {}
        self.project = project
        self.found: list[str] = []
        self.allowed = sorted({_clean(p) for p in self.rules["bind_allow"] if str(p).startswith("/")})

    def refuse(self, where: str, why: str) -> None:
        """Record one refusal."""
        self.found.append(f"{where}: {why}")

    def privileged(self, where: str, service: Mapping[str, Any]) -> None:
        if service.get("privileged") and not self.rules["allow_privileged"]:
            self.refuse(f"{where}.privileged", "privileged containers are not allowed on this cluster")

    def capabilities(self, where: str, service: Mapping[str, Any]) -> None:
        if self.rules["allow_privileged"]:
            return
        for cap in service.get("cap_add") or []:
            if capability(cap) not in DEFAULT_CAPABILITIES:
                self.refuse(f"{where}.cap_add", f"capability {cap} is not allowed on this cluster")
        for option in service.get("security_opt") or []:
            if str(option).strip().lower() not in SAFE_SECURITY_OPTS:
                self.refuse(f"{where}.security_opt", f"{option} weakens the container's isolation; not allowed here")
        for name in service.get("sysctls") or {}:
            if str(name) not in SAFE_SYSCTLS:
                self.refuse(f"{where}.sysctls", f"the sysctl {name} is not allowed on this cluster")
        for key in PRIVILEGED_KEYS:
            if service.get(key) not in (None, "", False):
                self.refuse(f"{where}.{key}", "not allowed on this cluster")

    def joined(self, where: str, key: str, value: str, own: tuple[str, ...]) -> None:
        """One namespace (network, pid, ipc, uts, user): the container's own, or one of this application."""
        if value in own:
            return
        if value == "host":
            if not self.rules["allow_host_namespaces"]:
                self.refuse(f"{where}.{key}", f"the host's {key.replace('_mode', '')} namespace is not allowed")
            return
        kind, _sep, name = value.partition(":")
        if kind == "service" and name in self.services:
            return
        if kind == "container" and own_container(name, self.project, self.services):
            return
        if not self.rules["allow_host_namespaces"]:
            self.refuse(f"{where}.{key}", f"{value} is not a container of this application; not allowed here")

    def namespaces(self, where: str, service: Mapping[str, Any]) -> None:
        self.joined(where, "network_mode", str(service.get("network_mode") or ""), NETWORK_OWN)
        self.joined(where, "pid", str(service.get("pid") or ""), ("",))
        self.joined(where, "ipc", str(service.get("ipc") or ""), IPC_OWN)
        self.joined(where, "uts", str(service.get("uts") or ""), ("",))
        self.joined(where, "userns_mode", str(service.get("userns_mode") or ""), ("",))
        for index, source in enumerate(service.get("volumes_from") or []):
            text = str(source)
            if text.startswith("container:"):
                name = text.removeprefix("container:").split(":", 1)[0]
                allowed = own_container(name, self.project, self.services)
            else:
                allowed = text.split(":", 1)[0] in self.services
            if not allowed and not self.rules["allow_host_namespaces"]:
                self.refuse(f"{where}.volumes_from[{index}]", f"{text} is not a container of this application")

    def devices(self, where: str, service: Mapping[str, Any]) -> None:
        if self.rules["allow_devices"]:
            return
        if service.get("devices"):
            self.refuse(f"{where}.devices", "host devices are not allowed on this cluster")
        if service.get("device_cgroup_rules"):
            self.refuse(f"{where}.device_cgroup_rules", "host devices are not allowed on this cluster")

    def ports(self, where: str, service: Mapping[str, Any]) -> None:
        if self.rules["allow_host_ip"]:
            return
        for index, port in enumerate(service.get("ports") or []):
            if isinstance(port, Mapping) and port.get("host_ip"):
                self.refuse(
                    f"{where}.ports[{index}]",
                    f"published ports bind to the node's publish address; {port['host_ip']} is not allowed here",
                )

    def bind_source(self, source: str) -> str | None:
        """Why a bind source is refused, or None."""
        clean = _clean(source)
        holds_socket = clean in DOCKER_SOCKETS or source.endswith("docker.sock")
        if holds_socket or any(_inside(sock, clean) for sock in DOCKER_SOCKETS):
            if self.rules["allow_docker_socket"]:
                return None if holds_socket else self._allowed_directory(clean)
            return "the Docker socket gives the container the host; it is not allowed on this cluster"
        return self._allowed_directory(clean)

    def _allowed_directory(self, clean: str) -> str | None:
        listed = ", ".join(self.allowed) or "none"
        if clean not in self.allowed:
            under = [d for d in self.allowed if _inside(clean, d)]
            if under:
                return (
                    f"bind mount of {clean} is below the allowed host directory {under[0]}; only the listed "
                    "directories themselves may be mounted (a symlink there could point anywhere on the host)"
                )
            return f"bind mount of {clean} is outside the allowed host paths ({listed})"
        outer = [d for d in self.allowed if _inside(clean, d)]
        if outer:
            return (
                f"bind mount of {clean} is inside another allowed directory ({outer[0]}), where a container "
                "could replace it with a symlink; not allowed"
            )
        return None

    def volumes(self, where: str, service: Mapping[str, Any]) -> None:
        for index, volume in enumerate(service.get("volumes") or []):
            if volume.get("type") != "bind":
                continue
            why = self.bind_source(str(volume.get("source", "")))
            if why:
                self.refuse(f"{where}.volumes[{index}]", why)

    def named_volumes(self, model: Mapping[str, Any]) -> None:
        for name, volume in (model.get("volumes") or {}).items():
            options = (volume or {}).get("driver_opts") or {}
            if options.get("device") and not self.rules["allow_devices"]:
                self.refuse(
                    f"volumes.{name}.driver_opts",
                    "a volume backed by a host path or device is not allowed on this cluster; use a bind mount",
                )


def refusals(model: Mapping[str, Any], policy: Mapping[str, Any] | None, project: str | None = None) -> list[str]:
    """Every forbidden key of every service, as "services.NAME.KEY: why" lines (empty when allowed).

    ``project`` is the application's name (its containers are ``<project>_<service>_<n>``); the model's
    ``name`` when not given.
    """
    check = _Check(model, policy, project if project is not None else str(model.get("name") or ""))
    for name, service in check.services.items():
        where = f"services.{name}"
        check.privileged(where, service)
        check.namespaces(where, service)
        check.devices(where, service)
        check.capabilities(where, service)
        check.volumes(where, service)
        check.ports(where, service)
    check.named_volumes(model)
    return check.found
