"""Metrics of containers and nodes: collected from the engines' stats streams, exposed for Prometheus at
``/metrics``, and read back from Prometheus for the pages' charts.

Collection runs in the watcher process (``apps.watcher.NODE_COMPANIONS``): per node, one thread lists the node's
running Berth containers every few seconds and follows each with one stats stream (the engine sends a sample a
second: no poll per container). The latest sample of each container, and each node's figures, are written to Redis
once a second (one hash per installation); ``/metrics`` renders what is there. A cluster whose monitoring service
is off (``system_services["monitoring"] is False``) is not collected.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.db import close_old_connections

from clusters import docker_host as host
from clusters.models import Cluster, Node

log = logging.getLogger(__name__)

LIST_SECONDS = 2.0
FLUSH_SECONDS = 1.0
DISK_SECONDS = 60.0
"""How often a node's engine is asked how much disk its data uses (it walks its data to answer)."""
STALE_SECONDS = 30.0
"""A sample older than this is not exposed (its container stopped, or the watcher is away)."""


# --- samples (pure) -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    cpu_percent: float  # of one CPU: 200 is two CPUs busy (as docker stats shows it)
    memory_bytes: int  # in use, without the page cache the kernel may drop (as docker stats shows it)
    memory_limit_bytes: int
    network_rx_bytes: int
    network_tx_bytes: int
    block_read_bytes: int
    block_write_bytes: int


def sample_of(raw: dict[str, Any]) -> Sample | None:
    """One sample of the engine's stats stream in the terms docker stats uses; None for the first one of a stream
    (no earlier CPU reading to compare with)."""
    cpu, before = raw.get("cpu_stats") or {}, raw.get("precpu_stats") or {}
    if not before.get("system_cpu_usage") or not cpu.get("system_cpu_usage"):
        return None
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (before.get("cpu_usage") or {}).get(
        "total_usage", 0
    )
    system_delta = cpu["system_cpu_usage"] - before["system_cpu_usage"]
    cpus = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    percent = 100.0 * cpu_delta / system_delta * cpus if system_delta > 0 and cpu_delta >= 0 else 0.0
    memory = raw.get("memory_stats") or {}
    details = memory.get("stats") or {}
    cache = details.get("inactive_file", details.get("total_inactive_file", 0))
    used = max(int(memory.get("usage") or 0) - int(cache or 0), 0)
    networks = (raw.get("networks") or {}).values()
    blocks = (raw.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []

    def block(op: str) -> int:
        return sum(int(e.get("value") or 0) for e in blocks if str(e.get("op", "")).lower() == op)

    return Sample(
        cpu_percent=round(percent, 3),
        memory_bytes=used,
        memory_limit_bytes=int(memory.get("limit") or 0),
        network_rx_bytes=sum(int(n.get("rx_bytes") or 0) for n in networks),
        network_tx_bytes=sum(int(n.get("tx_bytes") or 0) for n in networks),
        block_read_bytes=block("read"),
        block_write_bytes=block("write"),
    )


# --- the store (Redis) ----------------------------------------------------------------------------------------------


def _redis() -> Any:
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


def store_key() -> str:
    return f"berth:{settings.BERTH_INSTANCE}:metrics"


class Store:
    """What the collectors of this process saw last, written to Redis once a second by one thread."""

    def __init__(self) -> None:
        self.latest: dict[str, dict[str, Any]] = {}
        self.gone: set[str] = set()
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self.lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self.run, name="metrics-store", daemon=True)
                self._thread.start()

    def put(self, key: str, entry: dict[str, Any]) -> None:
        with self.lock:
            self.latest[key] = {**entry, "ts": time.time()}
            self.gone.discard(key)

    def drop(self, key: str) -> None:
        with self.lock:
            self.latest.pop(key, None)
            self.gone.add(key)

    def run(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            with self.lock:
                latest, gone = dict(self.latest), set(self.gone)
                self.latest.clear()
                self.gone.clear()
            if not latest and not gone:
                continue
            try:
                pipe = _redis().pipeline()
                if latest:
                    pipe.hset(store_key(), mapping={k: json.dumps(v) for k, v in latest.items()})
                if gone:
                    pipe.hdel(store_key(), *gone)
                pipe.execute()
            except Exception:  # noqa: BLE001 - Redis away: the next second's samples are written then
                log.warning("metrics: could not write %s samples to Redis", len(latest), exc_info=True)


STORE = Store()


def read_store() -> list[dict[str, Any]]:
    """The fresh entries of the store (containers' and nodes')."""
    now = time.time()
    found = []
    for raw in (_redis().hgetall(store_key()) or {}).values():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if now - float(entry.get("ts") or 0) <= STALE_SECONDS:
            found.append(entry)
    return found


# --- the collector: one per node, one stats stream per container --------------------------------------------------


def monitoring(cluster_id: int) -> bool:
    """Whether the cluster's monitoring service is on (it is unless turned off)."""
    return Cluster.service_on(cluster_id, "monitoring")


class StatsFollower(threading.Thread):
    def __init__(self, endpoint: host.Endpoint, docker_id: str, labels: dict[str, Any], stop: threading.Event) -> None:
        super().__init__(name=f"stats-{labels['container']}", daemon=True)
        self.endpoint, self.docker_id, self.labels, self.stop = endpoint, docker_id, labels, stop

    def run(self) -> None:
        try:
            for raw in host.stats_stream(self.endpoint, self.docker_id):
                if self.stop.is_set():
                    break
                sample = sample_of(raw)
                if sample is not None:
                    STORE.put(self.docker_id, {"kind": "container", **self.labels, **asdict(sample)})
        except host.HostError as exc:
            log.debug("metrics: %s: the stats stream broke: %s", self.labels["container"], exc)
        except Exception:
            log.exception("metrics: %s: the stats follower failed", self.labels["container"])
        finally:
            STORE.drop(self.docker_id)


class NodeStats(threading.Thread):
    """A node's metrics collector (``apps.watcher.NODE_COMPANIONS``)."""

    def __init__(self, node_id: int, stop: threading.Event) -> None:
        super().__init__(name=f"stats-node-{node_id}", daemon=True)
        self.node_id, self.stop = node_id, stop
        self.followers: dict[str, tuple[StatsFollower, threading.Event]] = {}
        self.disk, self.disk_read = 0, float("-inf")

    def run(self) -> None:
        STORE.start()
        while not self.stop.is_set():
            try:
                close_old_connections()
                self.round()
            except host.HostError as exc:
                log.debug("metrics: node %s: %s", self.node_id, exc)
                try:
                    STORE.put(f"node-{self.node_id}", {**self.node_labels(), "kind": "node", "up": 0, "running": 0})
                except Exception:  # noqa: BLE001 - the database away too: the next round says it
                    log.warning("metrics: node %s: could not say it is down", self.node_id, exc_info=True)
            except Exception:
                log.exception("metrics: node %s: the collector failed; it tries again", self.node_id)
            self.stop.wait(LIST_SECONDS)
        self.forget(set(self.followers))
        STORE.drop(f"node-{self.node_id}")

    def node_labels(self) -> dict[str, Any]:
        node = Node.objects.select_related("cluster").filter(pk=self.node_id).first()
        if node is None:
            return {}
        return {
            "tenant_id": node.cluster.tenant_id,
            "cluster_id": node.cluster_id,
            "cluster": node.cluster.name,
            "node_id": node.pk,
            "node": node.name,
            "cpus": int((node.info or {}).get("cpus") or 0),
            "memory_total_bytes": int((node.info or {}).get("memory") or 0),
        }

    def round(self) -> None:
        node = Node.objects.select_related("cluster").filter(pk=self.node_id).first()
        if node is None or not monitoring(node.cluster_id):
            self.forget(set(self.followers))
            STORE.drop(f"node-{self.node_id}")
            return
        endpoint = host.Endpoint.of(node, timeout=10.0)
        labels = {**host.managed(), "berth.cluster": str(node.cluster_id)}
        running = {s.id: s for s in host.list_containers(endpoint, labels, sparse=True) if s.state == "running"}
        self.forget({d for d, (f, _s) in self.followers.items() if d not in running or not f.is_alive()})
        apps = self.applications({s.labels.get("berth.application", "") for s in running.values()})
        for docker_id, state in running.items():
            app = apps.get(state.labels.get("berth.application", ""))
            if docker_id in self.followers or app is None:
                continue
            stop = threading.Event()
            follower = StatsFollower(
                endpoint,
                docker_id,
                {
                    "tenant_id": node.cluster.tenant_id,
                    "cluster_id": node.cluster_id,
                    "cluster": node.cluster.name,
                    "application_id": app[0],
                    "application": app[1],
                    "service": state.labels.get("berth.service", ""),
                    "container": state.name.lstrip("/"),
                    "node_id": node.pk,
                    "node": node.name,
                },
                stop,
            )
            follower.start()
            self.followers[docker_id] = (follower, stop)
        if time.monotonic() - self.disk_read >= DISK_SECONDS:
            self.disk_read = time.monotonic()
            try:
                self.disk = host.disk_usage(endpoint)
            except host.HostError as exc:
                log.debug("metrics: node %s: disk usage: %s", self.node_id, exc)
        entry = {**self.node_labels(), "kind": "node", "up": 1, "running": len(running), "disk_bytes": self.disk}
        STORE.put(f"node-{self.node_id}", entry)

    @staticmethod
    def applications(ids: Iterable[str]) -> dict[str, tuple[int, str]]:
        from apps.models import Application

        wanted = [int(i) for i in ids if i.isdigit()]
        rows = Application.objects.filter(pk__in=wanted, deleted_at__isnull=True).values_list("pk", "name")
        return {str(pk): (pk, name) for pk, name in rows}

    def forget(self, docker_ids: Iterable[str]) -> None:
        for docker_id in list(docker_ids):
            _follower, stop = self.followers.pop(docker_id)
            stop.set()


def start_node(node_id: int, stop: threading.Event) -> threading.Thread:
    """The metrics collector of one node (``apps.watcher.NODE_COMPANIONS``)."""
    thread = NodeStats(node_id, stop)
    thread.start()
    return thread


# --- the exposition format ----------------------------------------------------------------------------------------

CONTAINER_METRICS = (
    ("berth_container_cpu_percent", "gauge", "cpu_percent", "CPU in use, percent of one CPU (as docker stats)."),
    ("berth_container_memory_bytes", "gauge", "memory_bytes", "Memory in use, without the page cache."),
    ("berth_container_memory_limit_bytes", "gauge", "memory_limit_bytes", "The container's memory limit."),
    ("berth_container_network_receive_bytes_total", "counter", "network_rx_bytes", "Bytes received."),
    ("berth_container_network_transmit_bytes_total", "counter", "network_tx_bytes", "Bytes sent."),
    ("berth_container_block_read_bytes_total", "counter", "block_read_bytes", "Bytes read from block devices."),
    ("berth_container_block_write_bytes_total", "counter", "block_write_bytes", "Bytes written to block devices."),
)
CONTAINER_LABELS = (
    "tenant_id",
    "cluster_id",
    "cluster",
    "application_id",
    "application",
    "service",
    "container",
    "node",
)
NODE_LABELS = ("tenant_id", "cluster_id", "cluster", "node")


def escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(entry: dict[str, Any], names: tuple[str, ...]) -> str:
    return ",".join(f'{name}="{escape(entry.get(name, ""))}"' for name in names)


def exposition(entries: list[dict[str, Any]], health: list[tuple[str, dict[str, str], float]] | None = None) -> str:
    """Prometheus' text format of the entries (containers' and nodes'), and Berth's own figures (``health``)."""
    lines: list[str] = []
    containers = sorted((e for e in entries if e.get("kind") == "container"), key=lambda e: str(e.get("container")))
    nodes = sorted((e for e in entries if e.get("kind") == "node"), key=lambda e: str(e.get("node")))
    for name, kind, field, text in CONTAINER_METRICS:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{{{_labels(e, CONTAINER_LABELS)}}} {e.get(field, 0)}" for e in containers]
    per_node: dict[Any, list[dict[str, Any]]] = {}
    for entry in containers:
        per_node.setdefault(entry.get("node_id"), []).append(entry)
    node_metrics = (
        ("berth_node_up", "gauge", "Whether the node's engine answers (1) or not (0).", lambda n, c: n.get("up", 0)),
        (
            "berth_node_containers_running",
            "gauge",
            "Berth containers running on the node.",
            lambda n, c: n.get("running", 0),
        ),
        ("berth_node_cpus", "gauge", "The node's CPUs.", lambda n, c: n.get("cpus", 0)),
        ("berth_node_memory_total_bytes", "gauge", "The node's memory.", lambda n, c: n.get("memory_total_bytes", 0)),
        (
            "berth_node_docker_disk_bytes",
            "gauge",
            "Disk the node's engine data uses: image layers, containers' writable layers, volumes.",
            lambda n, c: n.get("disk_bytes", 0),
        ),
        (
            "berth_node_cpu_percent",
            "gauge",
            "CPU the node's Berth containers use, percent of one CPU.",
            lambda n, c: round(sum(float(e.get("cpu_percent") or 0) for e in c), 3),
        ),
        (
            "berth_node_memory_bytes",
            "gauge",
            "Memory the node's Berth containers use.",
            lambda n, c: sum(int(e.get("memory_bytes") or 0) for e in c),
        ),
    )
    for name, kind, text, value in node_metrics:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{{{_labels(n, NODE_LABELS)}}} {value(n, per_node.get(n.get('node_id'), []))}" for n in nodes]
    typed: set[str] = set()
    for name, labels, number in health or []:
        if name not in typed:
            typed.add(name)
            lines += [f"# HELP {name} {HEALTH_HELP.get(name, name)}", f"# TYPE {name} gauge"]
        shown = ",".join(f'{k}="{escape(v)}"' for k, v in sorted(labels.items()))
        lines.append(f"{name}{{{shown}}} {number}" if shown else f"{name} {number}")
    return "\n".join(lines) + "\n"


HEALTH_HELP = {
    "berth_releases_running": "Releases a worker is carrying out.",
    "berth_releases_pending": "Releases waiting for a worker.",
    "berth_release_wait_seconds": "How long the oldest waiting release has waited for a worker.",
    "berth_nodes": "Nodes by state.",
}


def health_figures() -> list[tuple[str, dict[str, str], float]]:
    """Berth's own figures for the operator's scrape: releases running and waiting, the seconds the oldest waiting
    one has waited, nodes by state."""
    from django.utils import timezone

    from apps.models import Release

    waiting = Release.objects.filter(status="pending").order_by("created_at").values_list("created_at", flat=True)
    oldest = waiting.first()
    figures: list[tuple[str, dict[str, str], float]] = [
        ("berth_releases_running", {}, Release.objects.filter(status="running").count()),
        ("berth_releases_pending", {}, waiting.count()),
        ("berth_release_wait_seconds", {}, round((timezone.now() - oldest).total_seconds(), 3) if oldest else 0),
    ]
    figures += [("berth_nodes", {"state": state}, count) for state, count in _node_states()]
    return figures


def _node_states() -> list[tuple[str, int]]:
    from django.db.models import Count

    return list(Node.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n"))


# --- Prometheus, for the charts -------------------------------------------------------------------------------------

RANGES = {"1h": (3600, 15), "6h": (6 * 3600, 60), "24h": (86400, 300), "7d": (7 * 86400, 1800)}
"""A chart's range: its length and the step between points (seconds)."""


class PrometheusUnavailable(Exception):
    """Prometheus did not answer (or answered an error)."""


def query_range(expr: str, seconds: int, step: int) -> list[dict[str, Any]]:
    """``expr`` over the last ``seconds``: Prometheus' series (labels and [time, value] points)."""
    end = time.time()
    params = urllib.parse.urlencode({"query": expr, "start": end - seconds, "end": end, "step": step})
    url = f"{settings.BERTH_PROMETHEUS_URL.rstrip('/')}/api/v1/query_range?{params}"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - the operator's Prometheus URL
            body = json.loads(answer.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.warning("metrics: Prometheus at %s did not answer: %s", settings.BERTH_PROMETHEUS_URL, exc)
        raise PrometheusUnavailable(
            "Metrics are not available now: Berth's Prometheus did not answer. The operator starts it with "
            "scripts/prometheus.sh (make up does) or points BERTH_PROMETHEUS_URL at another."
        ) from exc
    if body.get("status") != "success":
        log.warning("metrics: Prometheus refused %r: %s", expr, body.get("error"))
        raise PrometheusUnavailable("Metrics are not available now: Prometheus refused the query.")
    return [
        {"labels": item.get("metric", {}), "points": [[float(t), float(v)] for t, v in item.get("values", [])]}
        for item in body.get("data", {}).get("result", [])
    ]


def charts(selector: str, by: str, range_name: str, kinds: tuple[str, ...], node_selector: str = "") -> dict[str, Any]:
    """The charts of the containers ``selector`` picks (PromQL label matchers built by the caller from ids), one
    series per ``by`` label: CPU, memory, network and block I/O rates over ``range_name``."""
    seconds, step = RANGES[range_name]
    rate = f"[{max(step * 2, 30)}s]"
    queries = {
        # Gauges averaged over each step (a 7 d chart's point is half an hour of samples, not one of them).
        "cpu": f"sum by ({by}) (avg_over_time(berth_container_cpu_percent{{{selector}}}[{step}s]))",
        "memory": f"sum by ({by}) (avg_over_time(berth_container_memory_bytes{{{selector}}}[{step}s]))",
        "network": f"sum by ({by}) (rate(berth_container_network_receive_bytes_total{{{selector}}}{rate})"
        f" + rate(berth_container_network_transmit_bytes_total{{{selector}}}{rate}))",
        "block": f"sum by ({by}) (rate(berth_container_block_read_bytes_total{{{selector}}}{rate})"
        f" + rate(berth_container_block_write_bytes_total{{{selector}}}{rate}))",
    }
    queries["disk"] = (
        f"sum by ({by}) (avg_over_time(berth_node_docker_disk_bytes{{{node_selector or selector}}}[{step}s]))"
    )
    found: dict[str, Any] = {"range": range_name, "step": step, "charts": {}}
    for kind in kinds:
        series = query_range(queries[kind], seconds, step)
        found["charts"][kind] = [{"name": s["labels"].get(by, ""), "points": s["points"]} for s in series]
    return found
