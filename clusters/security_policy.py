"""The keys of a cluster's security policy (``Cluster.security_policy``) and what each is when the primary account
has not set it: all closed. What they allow is enforced on deploys by ``apps.security``."""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    "allow_privileged": False,
    "allow_host_namespaces": False,
    "allow_devices": False,
    "allow_docker_socket": False,
    "allow_host_ip": False,
    "bind_allow": [],
}
