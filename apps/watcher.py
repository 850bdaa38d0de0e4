"""The Docker events watcher: one stream per node; container state goes to the database and to browsers.

Live status comes from the engines' events, not from polling. When a stream (re)connects, the
watcher first reconciles the node's Berth containers, so nothing missed while it was away stays wrong.
It reaches each node through the one door (``Endpoint.of``: the node's TLS material, and the refusals of nodes
Berth may not reach), read again at every (re)connect, so nodes behind TLS (attach script, local provider) are
live too and a node's new certificates are picked up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections
from django.db.models import Case, Value, When

from apps.converge import generation_of
from apps.models import Container, containers_changed
from clusters import docker_host as host
from clusters.models import Node
from console import live

log = logging.getLogger(__name__)

RETRY_FIRST, RETRY_LAST = 2.0, 30.0  # seconds between reconnects to a node whose stream broke, doubling
REFUSED_RETRY = 30.0  # seconds between tries for a node the door refuses (not identified yet, no grant)

EVENT_LISTENERS: list[Callable[[int, dict[str, Any]], object]] = []
"""Called with (node id, the engine's event) for every event of a Berth container a node's stream brings (the
observability layer keeps them: ``observability.events.record``); a listener that fails is logged, never stops the
stream."""

REPLAY_FROM: list[Callable[[int], float | None]] = []
"""Asked, at each (re)connect to a node, from when (a UNIX time) its events should be replayed to the listeners
(what they missed while the stream was away); the earliest answer counts, None: nothing to replay. Replayed events
go to the listeners only: the node's containers' state is read anew at each connect."""

NODE_COMPANIONS: list[Callable[[int, threading.Event], object]] = []
"""Started beside each node's events watcher, in this process, with the node's id and its stop event (the
observability layer's log collector: ``observability.logs.start_node``); each runs its own thread until the event is
set."""

EVENT_STATES = {
    "create": "created",
    "start": "running",
    "restart": "running",
    "unpause": "running",
    "pause": "paused",
    "die": "exited",
    "stop": "exited",
    "destroy": "removed",
}


def apply_state(node_id: int, labels: dict[str, str], state: str, docker_id: str = "") -> Container | None:
    """Write the state of the container the labels name on ``node_id``; publish it. Returns the row."""
    try:
        app_id = int(labels["berth.application"])
        index = int(labels["berth.replica"])
        service = labels["berth.service"]
    except (KeyError, ValueError):
        return None
    generation = generation_of(labels)
    if state == "removed":
        # A row that still names this container (a start that failed removed it, or someone did outside Berth)
        # has none on its node any more: what it shows and what a plan decides follow (no container to recreate).
        named = Container.objects.filter(node_id=node_id, service__application_id=app_id, docker_id=docker_id)
        kept = Case(When(state="failed", then=Value("failed")), default=Value("removed"))  # a failure stays one
        if docker_id and named.update(docker_id="", state=kept):
            row = (
                Container.objects.filter(
                    node_id=node_id,
                    service__application_id=app_id,
                    service__name=service,
                    index=index,
                    generation=generation,
                )
                .select_related("node")
                .first()
            )
            if row is not None:
                live.publish("application", app_id, row.as_live())
                containers_changed(app_id)
                return row
        # The row is gone already (the release removed it): tell the browsers, in this stream's order.
        name = labels.get("name") or f"{labels.get('com.docker.compose.project', '')}_{service}_{index}" + (
            f"-{generation}" if generation else ""
        )
        live.publish("application", app_id, {"type": "container", "name": name, "state": "removed"})
        containers_changed(app_id)
        return None
    rows = Container.objects.filter(
        node_id=node_id, service__application_id=app_id, service__name=service, index=index, generation=generation
    )
    if docker_id:
        rows = rows.filter(docker_id__in=[docker_id, ""])
    fields: dict[str, Any] = {"state": state}
    if docker_id and state != "removed":
        fields["docker_id"] = docker_id
    if not rows.update(**fields):
        return None
    row = rows.select_related("node").first()
    if row is not None:
        live.publish("application", app_id, row.as_live())
        containers_changed(app_id)
    return row


def health_changed(labels: dict[str, str]) -> None:
    """A Berth container's health check passed or failed: whoever follows its application's containers is told
    (the routers take a container into their traffic only once its check passes)."""
    app_id = labels.get("berth.application", "")
    if app_id.isdigit():
        containers_changed(int(app_id))


class NodeWatcher(threading.Thread):
    """Follows one node's event stream, reconnecting with a pause when the engine goes away."""

    def __init__(self, node_id: int, stop: threading.Event) -> None:
        super().__init__(name=f"watch-node-{node_id}", daemon=True)
        self.node_id = node_id
        self.stop = stop

    def reconcile(self, endpoint: host.Endpoint, labels: dict[str, str]) -> None:
        for state in host.list_containers(endpoint, labels):
            apply_state(self.node_id, state.labels, state.state, state.id)

    def report(self, problem: str) -> None:
        """Log a problem of this node's stream when it changes (a node that stays down is one line, not one every
        few seconds); an empty ``problem`` notes the recovery."""
        if problem != getattr(self, "_last_problem", ""):
            if problem:
                log.info("watcher: node %s: %s; retrying", self.node_id, problem)
            else:
                log.info("watcher: node %s: following its events again", self.node_id)
        self._last_problem = problem

    def tell(self, event: dict[str, Any]) -> None:
        for listener in EVENT_LISTENERS:
            try:
                listener(self.node_id, event)
            except Exception:
                log.exception("watcher: node %s: an event listener failed", self.node_id)

    def run(self) -> None:
        pause = RETRY_FIRST
        while not self.stop.is_set():
            try:
                close_old_connections()
                node = Node.objects.filter(pk=self.node_id).only("pk", "cluster_id").first()
                if node is None:
                    return
                endpoint = host.Endpoint.of(node, timeout=10.0)  # HostRefused for a node Berth may not reach
                labels = {**host.managed(), "berth.cluster": str(node.cluster_id)}
                asked = [when for ask in REPLAY_FROM if (when := ask(self.node_id)) is not None]
                connected = host.engine_time(endpoint)  # the engine's clock: a node's may not be ours
                if asked and EVENT_LISTENERS:  # what the listeners missed, up to now; the state is read anew below
                    for event in host.events(endpoint, labels, since=f"{min(asked):.9f}", until=connected):
                        self.tell(event)
                self.reconcile(endpoint, labels)
                self.report("")
                pause = RETRY_FIRST
                for event in host.events(endpoint, labels, since=connected):
                    if self.stop.is_set():
                        break
                    action = event.get("Action") or event.get("status", "")
                    attrs = (event.get("Actor") or {}).get("Attributes") or {}
                    self.tell(event)
                    if action.startswith("health_status"):  # healthy or not: the routers follow (routing.sync)
                        health_changed(attrs)
                        continue
                    state = EVENT_STATES.get(action)
                    if state is None:
                        continue
                    apply_state(self.node_id, attrs, state, event.get("id", ""))
            except host.HostRefused as exc:  # not a fault of the engine: ask again rarely
                self.report(str(exc))
                self.stop.wait(REFUSED_RETRY)
                continue
            except host.HostError as exc:
                self.report(str(exc))
            except Exception:
                log.exception("watcher: node %s failed; retrying", self.node_id)
            self.stop.wait(pause)
            pause = min(pause * 2, RETRY_LAST)  # a node that stays away is asked less and less often


def watch_forever(stop: threading.Event, refresh_seconds: float = 3.0) -> None:
    """Keep one watcher per live node; pick up added nodes and drop removed ones (or ones whose endpoint or TLS
    material changed: a new watcher connects with the new)."""
    watchers: dict[tuple[int, str, str], tuple[NodeWatcher, threading.Event]] = {}
    while not stop.is_set():
        close_old_connections()
        live = Node.objects.exclude(state=Node.State.REMOVED).values_list("id", "endpoint", "tls_cert")
        wanted = {(pk, endpoint, cert) for pk, endpoint, cert in live}
        for key in wanted - watchers.keys():
            own_stop = threading.Event()
            watcher = NodeWatcher(key[0], own_stop)
            watcher.start()
            for companion in NODE_COMPANIONS:  # they end with the node's watcher (own_stop)
                try:
                    companion(key[0], own_stop)
                except Exception:  # a companion that cannot start never stops the watcher
                    log.exception("watcher: node %s: a companion did not start", key[0])
            watchers[key] = (watcher, own_stop)
        for key in [k for k, (w, _) in watchers.items() if k not in wanted or not w.is_alive()]:
            # The thread notices at its next event or reconnect; it writes nothing for a node that is gone.
            watchers.pop(key)[1].set()
        stop.wait(refresh_seconds)
    for _watcher, own_stop in watchers.values():
        own_stop.set()
