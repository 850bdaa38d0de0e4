"""What the routers see: each backend server's health and address, and each route's request rate, 5xx rate and
latency, read from every running router of a cluster (``show stat``) and summed over them.

Rates are per second, from the routers' counters between two readings (the previous one is kept in Redis), so the
first reading of a while shows totals and no rate. Readings are cached for ``CACHE_SECONDS``: a page that many
people watch asks the routers once.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis
from django.conf import settings

from clusters import docker_host as host
from clusters.models import Cluster
from routing import routers
from routing.models import Listener, Router

log = logging.getLogger(__name__)
CACHE_SECONDS = 2.0


@dataclass
class ServerView:
    """One container as the routers see it."""

    address: str = ""
    status: str = "unknown"  # UP, DOWN, MAINT, NOLB (weight 0), "no" (no check) ...
    check: str = ""  # the last check's result: L7OK, L4CON (refused), L7STS (bad status) ..., and "1/2" on the move
    routers: int = 0  # how many routers report it
    sessions: int = 0  # connections open to it now, summed over the routers


@dataclass
class BackendView:
    """One route's traffic, summed over the routers."""

    requests: int = 0  # since the routers started
    errors_5xx: int = 0
    latency_ms: float | None = None  # the routers' average response time (last 1024 requests)
    rate: float | None = None  # requests per second since the previous reading
    rate_5xx: float | None = None
    servers: dict[str, ServerView] = field(default_factory=dict)


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=3)


def _key(cluster_id: int, what: str) -> str:
    return f"berth:{settings.BERTH_INSTANCE}:routing:{what}:{cluster_id}"


def _number(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


def read(cluster: Cluster) -> dict[str, BackendView]:
    """Backend name → what the routers see of it now."""
    views: dict[str, BackendView] = {}
    latencies: dict[str, list[int]] = {}
    containers = [routers.name_of(cluster.pk)] + [
        routers.listener_name_of(cluster.pk, port)
        for port in Listener.objects.filter(cluster=cluster).values_list("front_port", flat=True)
    ]
    for router in Router.objects.filter(cluster=cluster, state=Router.State.RUNNING).select_related("node"):
        rows = []
        for container in containers:
            try:
                rows += routers.stats(host.Endpoint.of(router.node, timeout=5), container)
            except host.HostError as exc:
                log.info("routing: no statistics from %s on %s: %s", container, router.node.name, exc)
        for row in rows:
            backend = row.get("pxname", "")
            if not backend.startswith(("route_", "listener_")) or row.get("svname") == "FRONTEND":
                continue
            view = views.setdefault(backend, BackendView())
            name = row.get("svname", "")
            if name == "BACKEND":
                view.requests += _number(row.get("req_tot"))
                view.errors_5xx += _number(row.get("hrsp_5xx"))
                if _number(row.get("rtime")) or row.get("rtime") == "0":
                    latencies.setdefault(backend, []).append(_number(row.get("rtime")))
            elif name != "FRONTEND":
                server = view.servers.setdefault(name, ServerView())
                server.address = row.get("addr", "") or server.address
                # "UP 1/2": up, one check failed on its way down (the words after the state go with the check).
                status, _sep, moving = row.get("status", "").partition(" ")
                check = " ".join(part for part in (row.get("check_status", ""), moving) if part)
                if server.routers == 0 or status != "UP":  # one router that sees it down is news
                    server.status, server.check = status or "unknown", check
                server.routers += 1
                server.sessions += _number(row.get("scur"))
    for backend, values in latencies.items():  # no request yet: no latency to speak of (not "0 ms")
        views[backend].latency_ms = sum(values) / len(values) if views[backend].requests else None
    return views


def snapshot(cluster: Cluster) -> dict[str, BackendView]:
    """``read``, cached for CACHE_SECONDS, with rates from the previous reading."""
    try:
        store = _redis()
        cached = store.get(_key(cluster.pk, "traffic"))
        if cached:
            return _load(json.loads(cached)["views"])
        previous = store.get(_key(cluster.pk, "traffic-previous"))
    except redis.RedisError:
        return read(cluster)
    views = read(cluster)
    now = time.time()
    if previous:
        before = json.loads(previous)
        elapsed = now - before["at"]
        for name, view in views.items():
            old = before["views"].get(name)
            if old is not None and elapsed > 0 and view.requests >= old["requests"]:
                view.rate = round((view.requests - old["requests"]) / elapsed, 2)
                view.rate_5xx = round((view.errors_5xx - old["errors_5xx"]) / elapsed, 2)
    data = json.dumps({"at": now, "views": {name: asdict(view) for name, view in views.items()}})
    try:
        store.set(_key(cluster.pk, "traffic"), data, px=int(CACHE_SECONDS * 1000))
        store.set(_key(cluster.pk, "traffic-previous"), data, ex=300)
    except redis.RedisError:
        pass
    return views


def _load(data: dict[str, Any]) -> dict[str, BackendView]:
    views = {}
    for name, item in data.items():
        servers = {key: ServerView(**value) for key, value in item.pop("servers", {}).items()}
        views[name] = BackendView(**item, servers=servers)
    return views
