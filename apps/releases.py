"""Carrying out a release against the hosts. Called by the Celery task; safe to run twice.

Docker is never called inside a database transaction: rows are written in short atomic steps
before and after each host call. Host calls run in a thread pool; the database is written only
from the calling thread as results arrive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from apps import stacks
from apps.models import Application, Container, Release, ReleaseEvent, Service
from apps.scheduler import PlacementError
from clusters import docker_host as host
from clusters.models import Node
from clusters.pulls import PullProgress, human_bytes
from console import audit, live

log = logging.getLogger(__name__)
T = TypeVar("T")
TICK_SECONDS = 5.0  # heartbeat interval while a pool works (long pulls)
PULL_PUBLISH_SECONDS = 0.25  # at most this often a live pull message per node and image, besides milestones

ACTIONS = {
    Release.Kind.DEPLOY: "cs:CreateApplication",
    Release.Kind.UPDATE: "cs:UpdateApplication",
    Release.Kind.SCALE: "cs:ScaleService",
    Release.Kind.REDEPLOY: "cs:RedeployApplication",
    Release.Kind.KILL: "cs:KillApplication",
    Release.Kind.CONTAINER: "cs:ModifyContainer",
    Release.Kind.START: "cs:StartApplication",
    Release.Kind.STOP: "cs:StopApplication",
    Release.Kind.RESTART: "cs:RestartApplication",
    Release.Kind.DELETE: "cs:DeleteApplication",
}


class Canceled(Exception):
    """The user asked to cancel; raised at a checkpoint."""


class ReleaseFailed(Exception):
    """The release cannot complete; the message is for people."""


def labels_for(app: Application, service: Service, release: Release, index: int) -> dict[str, str]:
    """Labels of a Berth container: enough to rebuild Berth's view from the host, and Compose's own."""
    return {
        **host.managed(),
        "berth.tenant": str(app.tenant_id),
        "berth.cluster": str(app.cluster_id),
        "berth.application": str(app.pk),
        "berth.application.name": app.name,
        "berth.service": service.name,
        "berth.release": str(release.pk),
        "berth.replica": str(index),
        "com.docker.compose.project": app.name,
        "com.docker.compose.service": service.name,
        "com.docker.compose.container-number": str(index),
        "com.docker.compose.oneoff": "False",
    }


def container_name(app: Application, service: Service, index: int) -> str:
    """``<app>_<service>_<index>``."""
    return f"{app.name}_{service.name}_{index}"


class Run:
    """The context of one execution of a release: progress, events, heartbeats, cancel checks."""

    def __init__(self, release: Release) -> None:
        self.release = release
        self.app = release.application
        self.masker = stacks.masker_of(self.app)  # events and errors are read by whoever may see the application
        self.retired = False  # a first deploy failed and left nothing on the nodes: the application goes too

    def event(self, message: str, level: str = "info") -> None:
        message = self.masker.text(message)[:500]
        ev = ReleaseEvent.objects.create(release=self.release, application=self.app, message=message, level=level)
        live.publish("application", self.app.pk, ev.as_live())

    def set_total(self, total: int) -> None:
        Release.objects.filter(pk=self.release.pk).update(progress_total=total, progress_done=0)
        self.release.progress_total, self.release.progress_done = total, 0
        self._publish()

    def step(self, message: str | None = None) -> None:
        """One unit of progress done; also a heartbeat. Only the task's own thread calls it."""
        self.release.progress_done += 1
        Release.objects.filter(pk=self.release.pk).update(
            progress_done=self.release.progress_done, heartbeat_at=timezone.now()
        )
        if message:
            self.event(message)
        self._publish()

    def heartbeat(self) -> None:
        Release.objects.filter(pk=self.release.pk).update(heartbeat_at=timezone.now())

    def checkpoint(self) -> None:
        self.heartbeat()
        if Release.objects.filter(pk=self.release.pk, cancel_requested=True).exists():
            raise Canceled(_("Canceled by request."))

    def _publish(self) -> None:
        live.publish("application", self.app.pk, self.release.as_live())

    def container_changed(self, container: Container) -> None:
        live.publish("application", self.app.pk, container.as_live())

    def app_status(self, status: str, **extra: Any) -> None:
        Application.objects.filter(pk=self.app.pk).update(status=status, updated_at=timezone.now(), **extra)
        self.app.status = status
        live.publish("application", self.app.pk, {"type": "application", "id": self.app.pk, "status": status})


def _pool_map(
    items: Iterable[T],
    fn: Callable[[T], Any],
    on_result: Callable[[T, Any, BaseException | None], None],
    tick: Callable[[], None] | None = None,
) -> None:
    """Run ``fn`` over ``items`` in a bounded pool; call ``on_result`` in this thread as each finishes,
    and ``tick`` every few seconds while waiting (a heartbeat during long work such as pulls)."""

    def wrapped(item: T) -> Any:
        try:
            return fn(item)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=max(1, settings.BERTH_WORKERS_PER_RELEASE)) as pool:
        futures: dict[Future[Any], T] = {pool.submit(wrapped, item): item for item in items}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=TICK_SECONDS if tick else None, return_when=FIRST_COMPLETED)
            if not finished and tick is not None:
                tick()
            for future in finished:
                exc = future.exception()
                on_result(futures[future], None if exc else future.result(), exc)


def _spec(app: Application, service: Service, release: Release, container: Container) -> host.ContainerSpec:
    if service.spec:
        from apps.converge import container_spec

        return container_spec(app, service, release, container, labels_for(app, service, release, container.index))
    ports: dict[str, tuple[str, int | None]] = {}
    if service.container_port:
        ports[f"{service.container_port}/{service.protocol}"] = (container.node.publish_ip, service.host_port)
    return host.ContainerSpec(
        name=container.name,
        image=service.image,
        command=service.command,
        environment=service.environment,
        labels=labels_for(app, service, release, container.index),
        network=app.network_name,
        network_aliases=[service.name],
        ports=ports,
        stop_timeout=settings.BERTH_STOP_TIMEOUT,
    )


def _record_state(run: Run, container: Container, state: host.ContainerState, spec_hash: str | None = None) -> None:
    port = next(iter(state.ports.values()), None)
    fields: dict[str, Any] = {"docker_id": state.id, "state": state.state, "published_port": port}
    if spec_hash is not None:
        fields["spec_hash"] = spec_hash
    Container.objects.filter(pk=container.pk).update(**fields)
    container.docker_id, container.state, container.published_port = state.id, state.state, port
    run.container_changed(container)


def ensure_running(endpoint: host.Endpoint, spec: host.ContainerSpec) -> tuple[host.ContainerState, bool]:
    """Make the container exist and run; return its state and whether this call created it.

    Creation is tried first (one round trip in the common case); a name conflict means an earlier
    attempt got that far, and the existing container is adopted if it is this application's.
    """
    created = False
    try:
        container_id = host.create_container(endpoint, spec)
        created = True
    except host.HostError as exc:
        if "already in use" not in str(exc):
            raise
        existing = host.find_container(endpoint, spec.name)
        if existing is None or existing.labels.get("berth.application") != spec.labels["berth.application"]:
            raise ReleaseFailed(
                _("A container named %(name)s already exists on the node.") % {"name": spec.name}
            ) from exc
        if existing.state == "running":
            return existing, False
        container_id = existing.id
    try:
        return host.start_container(endpoint, container_id, inspect=bool(spec.ports)), created
    except host.HostError as exc:
        if created:
            host.remove_container(endpoint, container_id)
        raise ReleaseFailed(
            _("Container %(name)s did not start: %(reason)s") % {"name": spec.name, "reason": exc}
        ) from exc


def deploy(run: Run, *, pull: bool = False, recreate_all: bool = False) -> None:
    """Converge on the desired state (see apps.converge). A first deploy that fails leaves nothing behind: not
    its containers, networks or volumes, and not the application either (``finish`` retires it, so its name is
    free for another try), unless the cleanup could not finish."""
    app = run.app
    first_deploy = not Release.objects.filter(
        application=app, kind=Release.Kind.DEPLOY, status=Release.Status.SUCCESSFUL
    ).exists()
    services = list(app.services.all())
    try:
        _converge(run, services, pull=pull, recreate_all=recreate_all)
    except (ReleaseFailed, PlacementError, host.HostError, Canceled) as exc:
        if not first_deploy:
            raise ReleaseFailed(str(exc)) from exc
        run.event(_("Removing what this deploy created."), "warning")
        try:
            _remove_everything(run, count_progress=False)
        except (ReleaseFailed, host.HostError) as cleanup:
            raise ReleaseFailed(
                _("%(error)s (cleanup incomplete: %(cleanup)s)") % {"error": exc, "cleanup": cleanup}
            ) from exc
        if run.release.kind == Release.Kind.DEPLOY:
            run.retired = True
            raise ReleaseFailed(
                _("%(error)s Nothing was deployed; the application is removed.") % {"error": exc}
            ) from exc
        raise ReleaseFailed(str(exc)) from exc


def _within_policy(run: Run) -> None:
    """Refuse to make containers the release's actor may not run (the cluster's security policy, apps.security).

    Every release that makes containers comes here (deploy, update, scale, redeploy, start): whatever operation
    queued it, a sub-account never gets a container its policy forbids, even one made from a spec the primary
    account wrote. The operations check the same first, so that a refusal is a 400 and nothing is queued.
    """
    app = run.app
    refused = stacks.policy_refusals(run.release.actor, app.cluster, stacks.stored_model(app), app.name)
    if refused:
        raise ReleaseFailed("; ".join(refused))


def _converge(run: Run, services: list[Service], *, pull: bool, recreate_all: bool) -> None:
    from apps import converge

    app = run.app
    _within_policy(run)
    changes = converge.desired_changes(app, services, recreate_all=recreate_all)
    assignment = stacks.placement(app.name, app.cluster, app, stacks.rows_of_services(services), changes["keep"])
    by_name = {s.name: s for s in services}
    for service_name, placed in assignment.items():
        service = by_name[service_name]
        for index, node_id in sorted(placed.items()):
            converge.transaction_safe_create(service, node_id, index, container_name(app, service, index))
    removing = {r.pk for r in changes["remove"]}
    rows = list(Container.objects.filter(service__application=app).select_related("node", "service"))
    for row in rows:
        run.container_changed(row)
    pending = [r for r in rows if r.pk not in removing and (not r.docker_id or r.state != "running")]
    work = {r.pk: r for r in [*pending, *[r for r in rows if r.pk in {x.pk for x in changes["recreate"]}]]}
    run.set_total(len(work) + len(changes["remove"]))
    involved = {r.node_id: r.node for r in rows if r.pk not in removing}
    renewed = _prepare_nodes(run, involved, services, pull=pull)
    recreate_ids = {r.pk for r in changes["recreate"]}
    for row in rows:  # a pull brought a new image for the tag: its containers are made again from it (as Compose)
        if row.docker_id and row.pk not in removing and (row.node_id, converge.image_of(row.service)) in renewed:
            if row.pk not in work:
                work[row.pk] = row
                run.event(_("%(name)s will be recreated: its image is new.") % {"name": row.name})
            recreate_ids.add(row.pk)
    if len(work) + len(changes["remove"]) != run.release.progress_total:
        run.set_total(len(work) + len(changes["remove"]))
    _remove_rows(run, changes["remove"])
    for level in stacks.levels(stacks.rows_of_services(services)):
        group = [r for r in work.values() if r.service.name in level]
        if group:  # services of one level do not depend on each other: all their containers at once
            _start_containers(run, services, group, recreate_ids)
    _remove_strays(run)


class _PullReporter:
    """Live pull progress per node and image, from the pool's threads: throttled, milestones always sent.

    Nothing is written to the database here (pool threads only talk to Docker and the channel layer);
    the release's events about pulls are written by the calling thread when a node is done.
    """

    def __init__(self, run: Run) -> None:
        self.run = run
        self.lock = threading.Lock()
        self.last: dict[tuple[str, str], float] = {}
        self.states: dict[tuple[str, str], PullProgress] = {}

    def for_node(self, node: Node) -> Callable[[PullProgress, bool], None]:
        def report(state: PullProgress, milestone: bool) -> None:
            key, now = (node.name, state.image), time.monotonic()
            with self.lock:
                self.states[key] = state
                if not milestone and now - self.last.get(key, 0.0) < PULL_PUBLISH_SECONDS:
                    return
                self.last[key] = now
            self.publish(node, state, "done" if state.finished else "pulling")

        return report

    def failed(self, node: Node) -> None:
        """The node's preparation failed: a pull that had not finished there failed."""
        with self.lock:
            states = [st for (name, _image), st in self.states.items() if name == node.name and not st.finished]
        for state in states:
            self.publish(node, state, "failed")

    def publish(self, node: Node, state: PullProgress, status: str) -> None:
        payload = {"type": "pull", "release": self.run.release.pk, "node": node.name, "status": status}
        live.publish("application", self.run.app.pk, self.run.masker.data({**payload, **state.as_live()}))


def _pull_events(run: Run, node: Node, pulls: list[Any]) -> None:
    for pull in pulls:
        if pull.state is None:
            run.event(
                _("Could not pull %(image)s on %(node)s; using the copy the node has (%(reason)s).")
                % {"image": pull.image, "node": node.name, "reason": pull.error},
                "warning",
            )
            continue
        _current, total = pull.state.downloaded
        if pull.state.changed:
            text = _("Pulled %(image)s on %(node)s: %(layers)s layer(s), %(size)s in %(seconds).1f s (%(digest)s).")
        else:
            text = _("%(image)s on %(node)s is up to date (%(digest)s).")
        run.event(
            text
            % {
                "image": pull.image,
                "node": node.name,
                "layers": pull.state.layers_fetched,
                "size": human_bytes(total),
                "seconds": pull.seconds,
                "digest": pull.state.digest or "no digest",
            }
        )


def _prepare_nodes(
    run: Run, nodes: dict[int, Node], services: list[Service], *, pull: bool = False
) -> set[tuple[int, str]]:
    """On each node in parallel: images there (pulled when missing or asked, with live progress per
    layer), networks and volumes made. Returns the (node id, image) pairs a pull changed."""
    from apps import converge

    app = run.app
    errors: list[str] = []
    reporter = _PullReporter(run)
    renewed: set[tuple[int, str]] = set()

    def done(node: Node, pulls: Any, exc: BaseException | None) -> None:
        if exc is not None:
            errors.append(f"{node.name}: {exc}")
            reporter.failed(node)
            return
        _pull_events(run, node, pulls)
        renewed.update((node.pk, p.image) for p in pulls if p.state is not None and p.state.changed)
        run.event(_("Node %(node)s is ready for the application.") % {"node": node.name})

    def prepare(node: Node) -> list[Any]:
        return converge.prepare_node(node, app, services, pull=pull, on_pull=reporter.for_node(node))

    _pool_map(nodes.values(), prepare, done, tick=run.heartbeat)
    if errors:
        raise ReleaseFailed("; ".join(errors))
    run.checkpoint()
    return renewed


def _remove_rows(run: Run, rows: list[Container]) -> None:
    """Remove the containers of these rows (scale-down: highest indexes), then the rows."""
    errors: list[str] = []

    def work(c: Container) -> None:
        if c.docker_id:
            host.remove_container(host.Endpoint.of(c.node), c.docker_id)

    def done(c: Container, _r: Any, exc: BaseException | None) -> None:
        if exc is not None:
            errors.append(f"{c.name}: {exc}")
            return
        Container.objects.filter(pk=c.pk).delete()
        live.publish("application", run.app.pk, {"type": "container", "name": c.name, "state": "removed"})
        run.step(_("%(name)s removed.") % {"name": c.name})

    _pool_map(sorted(rows, key=lambda c: -c.index), work, done)
    if errors:
        raise ReleaseFailed("; ".join(errors))


def _remove_strays(run: Run) -> None:
    """Containers of this application that no row describes any more (a service an update dropped)."""
    app = run.app
    known = {
        (c.service.name, str(c.index), c.node_id)
        for c in Container.objects.filter(service__application=app).select_related("service")
    }
    for node in Node.objects.filter(cluster_id=app.cluster_id, state=Node.State.READY):
        endpoint = host.Endpoint.of(node)
        for state in host.list_containers(endpoint, {**host.managed(), "berth.application": str(app.pk)}):
            key = (state.labels.get("berth.service"), state.labels.get("berth.replica"), node.pk)
            if key not in known:
                host.remove_container(endpoint, state.id)
                run.event(_("%(name)s removed (no longer in the application).") % {"name": state.name})


def _start_containers(
    run: Run, services: list[Service], containers: list[Container], recreate: set[int] | frozenset[int] = frozenset()
) -> None:
    from apps import converge

    app, release = run.app, run.release
    by_service = {s.pk: s for s in services}
    hashes = {s.pk: converge.spec_hash(s) for s in services}
    errors: list[str] = []

    def work(c: Container) -> tuple[host.ContainerState, bool]:
        endpoint = host.Endpoint.of(c.node)
        if c.pk in recreate and c.docker_id:
            host.remove_container(endpoint, c.docker_id)
        return ensure_running(endpoint, _spec(app, by_service[c.service_id], release, c))

    def done(c: Container, result: Any, exc: BaseException | None) -> None:
        if exc is not None:
            errors.append(f"{c.name}: {exc}")
            Container.objects.filter(pk=c.pk).update(state="failed")
            c.state = "failed"
            run.container_changed(c)
            run.event(_("%(name)s failed: %(reason)s") % {"name": c.name, "reason": exc}, "error")
            return
        state, _created = result
        _record_state(run, c, state, spec_hash=hashes[c.service_id])
        run.step(_("%(name)s is %(state)s on %(node)s.") % {"name": c.name, "state": state.state, "node": c.node.name})

    _pool_map(containers, work, done)
    if errors:
        raise ReleaseFailed("; ".join(errors))


def _each_container(
    run: Run, action: Callable[[host.Endpoint, Container], host.ContainerState | None], verb: str
) -> None:
    containers = list(
        Container.objects.filter(service__application=run.app).select_related("node", "service").order_by("id")
    )
    run.set_total(len(containers))
    errors: list[str] = []

    def done(c: Container, result: Any, exc: BaseException | None) -> None:
        if exc is not None:
            errors.append(f"{c.name}: {exc}")
            run.event(_("%(name)s: %(reason)s") % {"name": c.name, "reason": exc}, "error")
            return
        if result is not None:
            _record_state(run, c, result)
        run.step(_("%(name)s %(verb)s.") % {"name": c.name, "verb": verb})

    _pool_map(containers, lambda c: action(host.Endpoint.of(c.node), c), done)
    if errors:
        raise ReleaseFailed("; ".join(errors))


def stop(run: Run) -> None:
    """Stop every container gracefully."""

    def act(endpoint: host.Endpoint, c: Container) -> host.ContainerState | None:
        if c.docker_id:
            host.stop_container(endpoint, c.docker_id, settings.BERTH_STOP_TIMEOUT)
            found = host.find_container(endpoint, c.docker_id)
            return found
        return None

    _each_container(run, act, _("stopped"))


def start(run: Run) -> None:
    """Start every container, recreating any that vanished from its node."""
    deploy(run)


def restart(run: Run) -> None:
    """Restart every container."""

    def act(endpoint: host.Endpoint, c: Container) -> host.ContainerState | None:
        if not c.docker_id:
            raise ReleaseFailed(_("%(name)s was never created; redeploy the application.") % {"name": c.name})
        return host.restart_container(endpoint, c.docker_id, settings.BERTH_STOP_TIMEOUT)

    _each_container(run, act, _("restarted"))


def _remove_everything(run: Run, *, count_progress: bool) -> None:
    """Remove every container of the application (found by label, so strays too) and its network on every node."""
    app = run.app
    nodes = list(Node.objects.filter(cluster_id=app.cluster_id).exclude(state=Node.State.REMOVED))
    found: dict[int, list[host.ContainerState]] = {}
    errors: list[str] = []

    def scan(node: Node) -> list[host.ContainerState]:
        return host.list_containers(host.Endpoint.of(node), {**host.managed(), "berth.application": str(app.pk)})

    def scanned(node: Node, result: Any, exc: BaseException | None) -> None:
        if exc is not None:
            errors.append(f"{node.name}: {exc}")
        else:
            found[node.id] = result

    _pool_map(nodes, scan, scanned)
    if count_progress:
        run.set_total(sum(len(v) for v in found.values()) + len(nodes))
    node_by_id = {n.id: n for n in nodes}
    work = [(node_by_id[nid], state) for nid, states in found.items() for state in states]

    def removed(item: tuple[Node, host.ContainerState], _r: Any, exc: BaseException | None) -> None:
        node, state = item
        if exc is not None:
            errors.append(f"{state.name}: {exc}")
            return
        # The watcher tells browsers about the removal, in order with the container's other events.
        Container.objects.filter(service__application=app, docker_id=state.id).delete()
        if count_progress:
            run.step(_("%(name)s removed from %(node)s.") % {"name": state.name, "node": node.name})

    _pool_map(work, lambda item: host.remove_container(host.Endpoint.of(item[0]), item[1].id), removed)

    def drop_network(node: Node, _r: Any, exc: BaseException | None) -> None:
        if exc is not None:
            errors.append(f"{node.name}: {exc}")
        elif count_progress:
            run.step(_("Network %(net)s removed from %(node)s.") % {"net": app.network_name, "node": node.name})

    _pool_map(nodes, lambda node: host.remove_network(host.Endpoint.of(node), app.network_name), drop_network)
    # Rows of containers that never reached a host go in any case; the others only when their nodes answered.
    for name in Container.objects.filter(service__application=app, docker_id="").values_list("name", flat=True):
        live.publish("application", app.pk, {"type": "container", "name": name, "state": "removed"})
    Container.objects.filter(service__application=app, docker_id="").delete()
    if errors:
        raise ReleaseFailed("; ".join(errors))
    Container.objects.filter(service__application=app).delete()


def delete(run: Run) -> None:
    """Remove the application's containers and networks (and, when asked, its volumes) from every node."""
    _remove_everything(run, count_progress=True)
    if run.release.params.get("remove_volumes"):
        for node in Node.objects.filter(cluster_id=run.app.cluster_id, state=Node.State.READY):
            count = host.remove_volumes(
                host.Endpoint.of(node), {**host.managed(), "berth.application": str(run.app.pk)}
            )
            if count:
                run.event(_("%(n)s volume(s) removed from %(node)s.") % {"n": count, "node": node.name})


def deploy_and_record(run: Run) -> None:
    """A first deploy, then the digests of the images it runs."""
    deploy(run)
    _record_digests(run)


def update(run: Run) -> None:
    """Apply a new version: changed services recreated, new ones created, dropped ones removed."""
    deploy(run)
    _record_digests(run)


def scale(run: Run) -> None:
    """Reach the new scale: new replicas placed by the scheduler, highest indexes removed first."""
    deploy(run)


def redeploy(run: Run) -> None:
    """Pull every image again (the tags: a rollback's pinned digests are let go) and recreate every container."""
    Service.objects.filter(application=run.app).exclude(pinned_image="").update(pinned_image="")
    deploy(run, pull=True, recreate_all=True)
    _record_digests(run, new_version_if_changed=True)


def container_action(run: Run) -> None:
    """Restart, stop or remove one container (``params``: container, action)."""
    params = run.release.params
    row = (
        Container.objects.filter(service__application=run.app, name=params.get("container"))
        .select_related("node", "service")
        .first()
    )
    if row is None:
        raise ReleaseFailed(_("No container %(name)s.") % {"name": params.get("container")})
    run.set_total(1)
    endpoint = host.Endpoint.of(row.node)
    action = params.get("action")
    if action == "restart" and row.docker_id:
        _record_state(run, row, host.restart_container(endpoint, row.docker_id, settings.BERTH_STOP_TIMEOUT))
    elif action == "stop" and row.docker_id:
        host.stop_container(endpoint, row.docker_id, settings.BERTH_STOP_TIMEOUT)
        found = host.find_container(endpoint, row.docker_id)
        if found is not None:
            _record_state(run, row, found)
    elif action == "remove":
        if row.docker_id:
            host.remove_container(endpoint, row.docker_id)
        Container.objects.filter(pk=row.pk).delete()
        live.publish("application", run.app.pk, {"type": "container", "name": row.name, "state": "removed"})
    else:
        raise ReleaseFailed(_("%(name)s was never created.") % {"name": row.name})
    run.step(_("%(name)s: %(action)s done.") % {"name": row.name, "action": action})


def kill(run: Run) -> None:
    """SIGKILL every container."""

    def act(endpoint: host.Endpoint, c: Container) -> host.ContainerState | None:
        if c.docker_id:
            host.kill_container(endpoint, c.docker_id)
            return host.find_container(endpoint, c.docker_id)
        return None

    _each_container(run, act, _("killed"))


def _record_digests(run: Run, *, new_version_if_changed: bool = False) -> None:
    """Store the image digests the version runs on (rollback restores exactly these images).

    With ``new_version_if_changed`` (a redeploy), images that changed under the same tags make a new
    version with the same text and variables, so that the earlier version keeps its own digests.
    """
    from apps.converge import image_of
    from apps.models import AppVersion

    version = AppVersion.objects.filter(application=run.app, number=run.app.version).first()
    if version is None:
        return
    digests = {}
    for service in run.app.services.all():
        row = service.containers.select_related("node").first()
        if row is not None:
            try:
                digests[service.name] = host.image_digest(host.Endpoint.of(row.node), image_of(service))
            except host.HostError:
                continue
    renewed = version.digests and digests != version.digests and version.release_id != run.release.pk
    if new_version_if_changed and renewed:
        with transaction.atomic():
            version = stacks.add_version(
                run.app,
                version.compose,
                stacks.version_variables(version),
                run.release.actor,
                note="redeploy: new images",
            )
        run.event(_("The images changed: this is now version %(n)s.") % {"n": version.number})
    AppVersion.objects.filter(pk=version.pk).update(digests=digests, release=run.release)


RUNNERS: dict[str, Callable[[Run], None]] = {
    Release.Kind.DEPLOY: deploy_and_record,
    Release.Kind.UPDATE: update,
    Release.Kind.SCALE: scale,
    Release.Kind.REDEPLOY: redeploy,
    Release.Kind.KILL: kill,
    Release.Kind.CONTAINER: container_action,
    Release.Kind.START: start,
    Release.Kind.STOP: stop,
    Release.Kind.RESTART: restart,
    Release.Kind.DELETE: delete,
}

STATUS_DURING = {
    Release.Kind.DEPLOY: Application.Status.DEPLOYING,
    Release.Kind.UPDATE: Application.Status.DEPLOYING,
    Release.Kind.SCALE: Application.Status.DEPLOYING,
    Release.Kind.REDEPLOY: Application.Status.DEPLOYING,
    Release.Kind.KILL: Application.Status.STOPPING,
    Release.Kind.CONTAINER: Application.Status.RUNNING,
    Release.Kind.START: Application.Status.STARTING,
    Release.Kind.STOP: Application.Status.STOPPING,
    Release.Kind.RESTART: Application.Status.RESTARTING,
    Release.Kind.DELETE: Application.Status.DELETING,
}
STATUS_AFTER = {
    Release.Kind.DEPLOY: Application.Status.RUNNING,
    Release.Kind.UPDATE: Application.Status.RUNNING,
    Release.Kind.SCALE: Application.Status.RUNNING,
    Release.Kind.REDEPLOY: Application.Status.RUNNING,
    Release.Kind.KILL: Application.Status.STOPPED,
    Release.Kind.CONTAINER: Application.Status.RUNNING,
    Release.Kind.START: Application.Status.RUNNING,
    Release.Kind.STOP: Application.Status.STOPPED,
    Release.Kind.RESTART: Application.Status.RUNNING,
    Release.Kind.DELETE: Application.Status.DELETED,
}


def execute(release_id: int) -> str:
    """Run the release if it is still active; return its final status. Running it twice is harmless."""
    release = (
        Release.objects.select_related("application", "application__cluster", "actor").filter(pk=release_id).first()
    )
    if release is None or release.status in Release.TERMINAL:
        return "skipped"
    if not release.claim():  # pending → running: a second copy of the message finds it running
        return "skipped"
    Release.objects.filter(pk=release.pk).update(attempts=F("attempts") + 1)
    run = Run(release)
    run.app_status(STATUS_DURING[release.kind])
    run.event(_("%(kind)s started.") % {"kind": release.get_kind_display().capitalize()})
    started = time.monotonic()
    error = ""
    try:
        if release.cancel_requested:
            raise Canceled(_("Canceled by request."))
        RUNNERS[release.kind](run)
    except Canceled as exc:
        error = str(exc)
        final = Release.Status.CANCELED
    except (ReleaseFailed, host.HostError, PlacementError) as exc:
        error = str(exc)
        final = Release.Status.FAILED
    except Exception as exc:  # an unexpected bug still ends the release cleanly, with the reason kept
        log.exception("release %s crashed", release.pk)
        error = f"{exc.__class__.__name__}: {exc}"
        final = Release.Status.FAILED
    else:
        final = Release.Status.SUCCESSFUL
    return finish(run, final, error, duration_ms=int((time.monotonic() - started) * 1000))


def finish(run: Run, final: str, error: str, *, duration_ms: int | None = None) -> str:
    """Move the release to its terminal status, set the application's status and write the operation log.

    All three happen in one transaction, so whoever sees the release finished also sees its log entry.
    """
    release, app = run.release, run.app
    error = run.masker.text(error)
    with transaction.atomic():
        if not release.move(Release.ACTIVE, final, error=error[:4000]):
            return release.status
        release.refresh_from_db(fields=["attempts", "progress_done", "progress_total"])
        kind = release.get_kind_display().capitalize()
        if final == Release.Status.SUCCESSFUL:
            extra = {"deleted_at": timezone.now()} if release.kind == Release.Kind.DELETE else {}
            run.app_status(STATUS_AFTER[release.kind], **extra)
            run.event(_("%(kind)s finished.") % {"kind": kind})
        else:
            if run.retired:  # a first deploy that left nothing: no failed application stays behind
                run.app_status(Application.Status.DELETED, deleted_at=timezone.now())
            else:
                run.app_status(Application.Status.FAILED)
            run.event(_("%(kind)s %(status)s: %(error)s") % {"kind": kind, "status": final, "error": error}, "error")
        run._publish()
        outcome = audit.OperationLog.Outcome
        audit.record(
            ACTIONS[release.kind],
            actor=release.actor,
            tenant=app.tenant,
            resource=app.resource_name,
            target=app.name,
            cluster_id=app.cluster_id,
            parameters={"release": release.pk, "kind": release.kind, "attempts": release.attempts},
            outcome=outcome.SUCCESS if final == Release.Status.SUCCESSFUL else outcome.FAILURE,
            error=error,
            duration_ms=duration_ms,
            source="task",
        )
    return final


def spec_for(container: Container) -> host.ContainerSpec:
    """The spec to (re)create ``container`` on its current node, labelled with the application's latest release."""
    service = container.service
    app = service.application
    release = (
        app.releases.filter(kind=Release.Kind.DEPLOY).order_by("-id").first() or app.releases.order_by("-id").first()
    )
    return _spec(app, service, release, container)  # type: ignore[arg-type]
