"""Carrying out a release against the hosts. Called by the Celery task; safe to run twice.

Docker is never called inside a database transaction: rows are written in short atomic steps
before and after each host call. Host calls run in a thread pool; the database is written only
from the calling thread as results arrive.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any, TypeVar

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.models import Application, Container, Release, ReleaseEvent, Service
from apps.scheduler import NodeCapacity, PlacementError, ServiceDemand, place
from clusters import docker_host as host
from clusters.models import Node
from console import audit, live

log = logging.getLogger(__name__)
T = TypeVar("T")

ACTIONS = {
    Release.Kind.DEPLOY: "cs:CreateApplication",
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

    def event(self, message: str, level: str = "info") -> None:
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

    def checkpoint(self) -> None:
        Release.objects.filter(pk=self.release.pk).update(heartbeat_at=timezone.now())
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
    items: Iterable[T], fn: Callable[[T], Any], on_result: Callable[[T, Any, BaseException | None], None]
) -> None:
    """Run ``fn`` over ``items`` in a bounded pool; call ``on_result`` in this thread as each finishes."""

    def wrapped(item: T) -> Any:
        try:
            return fn(item)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=max(1, settings.BERTH_WORKERS_PER_RELEASE)) as pool:
        futures: dict[Future[Any], T] = {pool.submit(wrapped, item): item for item in items}
        for future in as_completed(futures):
            exc = future.exception()
            on_result(futures[future], None if exc else future.result(), exc)


def _ready_nodes(app: Application) -> list[Node]:
    return list(Node.objects.filter(cluster_id=app.cluster_id, state=Node.State.READY).order_by("id"))


def _spec(app: Application, service: Service, release: Release, container: Container) -> host.ContainerSpec:
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


def _record_state(run: Run, container: Container, state: host.ContainerState) -> None:
    port = next(iter(state.ports.values()), None)
    Container.objects.filter(pk=container.pk).update(docker_id=state.id, state=state.state, published_port=port)
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


def deploy(run: Run) -> None:
    """Create and start every missing replica; start stopped ones. A first deploy that fails leaves nothing."""
    app = run.app
    first_deploy = not Release.objects.filter(
        application=app, kind=Release.Kind.DEPLOY, status=Release.Status.SUCCESSFUL
    ).exists()
    nodes = _ready_nodes(app)
    node_by_id = {n.id: n for n in nodes}
    services = list(app.services.all())
    run.set_total(sum(s.scale for s in services))
    try:
        containers = _plan_containers(run, services, nodes)
        _prepare_nodes(run, {c.node_id: c.node for c in containers} or node_by_id, services)
        _start_containers(run, services, containers)
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
        raise ReleaseFailed(str(exc)) from exc


def _plan_containers(run: Run, services: list[Service], nodes: list[Node]) -> list[Container]:
    app = run.app
    capacities = [NodeCapacity(id=n.id, name=n.name, zone=n.zone, labels=n.labels) for n in nodes]
    out: list[Container] = []
    with transaction.atomic():
        for service in services:
            rows = {c.index: c for c in service.containers.select_related("node")}
            wanted = range(1, service.scale + 1)
            missing = [i for i in wanted if i not in rows]
            placed = {i: c.node_id for i, c in rows.items() if i in wanted}
            assignment = place(capacities, ServiceDemand(service.name, missing, placed, service.host_port))
            for index, node_id in assignment.items():
                rows[index] = Container.objects.create(
                    service=service,
                    node_id=node_id,
                    index=index,
                    name=container_name(app, service, index),
                    state="pending",
                )
            out.extend(rows[i] for i in wanted)
    for c in Container.objects.filter(pk__in=[c.pk for c in out]).select_related("node", "service"):
        run.container_changed(c)
    return list(Container.objects.filter(pk__in=[c.pk for c in out]).select_related("node", "service"))


def _prepare_nodes(run: Run, nodes: dict[int, Node], services: list[Service]) -> None:
    """On each node in parallel: the image is there (pulled if missing) and the app's network exists."""
    app = run.app
    images = sorted({s.image for s in services})
    net_labels = {
        **host.managed(),
        "berth.application": str(app.pk),
        "com.docker.compose.project": app.name,
        "com.docker.compose.network": "default",
    }
    errors: list[str] = []

    def prepare(node: Node) -> None:
        endpoint = host.Endpoint.of(node)
        for image in images:
            if not host.image_present(endpoint, image):
                host.pull_image(endpoint, image)
        host.ensure_network(endpoint, app.network_name, net_labels)

    def done(node: Node, _result: Any, exc: BaseException | None) -> None:
        if exc is not None:
            errors.append(f"{node.name}: {exc}")
        else:
            run.event(_("Node %(node)s is ready for the application.") % {"node": node.name})

    _pool_map(nodes.values(), prepare, done)
    if errors:
        raise ReleaseFailed("; ".join(errors))
    run.checkpoint()


def _start_containers(run: Run, services: list[Service], containers: list[Container]) -> None:
    app, release = run.app, run.release
    by_service = {s.pk: s for s in services}
    errors: list[str] = []

    def work(c: Container) -> tuple[host.ContainerState, bool]:
        spec = _spec(app, by_service[c.service_id], release, c)
        return ensure_running(host.Endpoint.of(c.node), spec)

    def done(c: Container, result: Any, exc: BaseException | None) -> None:
        if exc is not None:
            errors.append(f"{c.name}: {exc}")
            Container.objects.filter(pk=c.pk).update(state="failed")
            c.state = "failed"
            run.container_changed(c)
            run.event(_("%(name)s failed: %(reason)s") % {"name": c.name, "reason": exc}, "error")
            return
        state, _created = result
        _record_state(run, c, state)
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
    """Remove the application's containers and networks from every node, then mark it deleted."""
    _remove_everything(run, count_progress=True)


RUNNERS: dict[str, Callable[[Run], None]] = {
    Release.Kind.DEPLOY: deploy,
    Release.Kind.START: start,
    Release.Kind.STOP: stop,
    Release.Kind.RESTART: restart,
    Release.Kind.DELETE: delete,
}

STATUS_DURING = {
    Release.Kind.DEPLOY: Application.Status.DEPLOYING,
    Release.Kind.START: Application.Status.STARTING,
    Release.Kind.STOP: Application.Status.STOPPING,
    Release.Kind.RESTART: Application.Status.RESTARTING,
    Release.Kind.DELETE: Application.Status.DELETING,
}
STATUS_AFTER = {
    Release.Kind.DEPLOY: Application.Status.RUNNING,
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
    now = timezone.now()
    claimed = release.move(
        Release.ACTIVE, Release.Status.RUNNING, started_at=release.started_at or now, heartbeat_at=now
    )
    if not claimed:
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


def prepare_node(node: Node, app: Application, images: list[str]) -> None:
    """On one node: the images are present (pulled when missing) and the application's network exists."""
    endpoint = host.Endpoint.of(node)
    for image in images:
        if not host.image_present(endpoint, image):
            host.pull_image(endpoint, image)
    host.ensure_network(
        endpoint,
        app.network_name,
        {
            **host.managed(),
            "berth.application": str(app.pk),
            "com.docker.compose.project": app.name,
            "com.docker.compose.network": "default",
        },
    )
