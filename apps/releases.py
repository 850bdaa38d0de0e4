"""The steps of each kind of release (deploy, update, scale, redeploy, start, stop, restart, kill, delete, one
container's action), carried out by the one long-work engine (``console.work``: claim, attempts, heartbeat, cancel
checkpoints, progress, and the finish with its operation-log entry and live message). Called by the Celery task;
safe to run twice.

Docker is never called inside a database transaction: rows are written in short atomic steps before and after
each host call. Host calls run in a thread pool, at most BERTH_WORKERS_PER_RELEASE at a time on one node and all
nodes at once; the database is written only from the calling thread as results arrive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from django.conf import settings
from django.db import connections, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from apps import converge, stacks
from apps.models import Application, AppVersion, Container, Release, ReleaseEvent, Service, containers_changed
from apps.scheduler import PlacementError
from clusters import docker_host as host
from clusters import network
from clusters.models import Node
from clusters.pulls import PullProgress, human_bytes
from console import live, work

log = logging.getLogger(__name__)
T = TypeVar("T")
BEFORE_REMOVAL: list[Callable[[list[Container]], None]] = []
"""Called with containers a release is about to remove or replace, while they still run: the layers above this one
let go of them first (the routing service takes them out of its routers). Handed over in their app's ``ready``."""
BEFORE_DELETE: list[Callable[[Application], None]] = []
"""Called when a release starts deleting an application: the layers above this one let go of it and of its networks
(the routers leave them, so that they can be removed)."""
ROLLING: list[Callable[..., None]] = []
"""Replaces running containers of an update, rollback or redeploy batch by batch, health-gated (``releases.rolling``
hands itself over in its app's ``ready``): called with the run, the services, the rows of one dependency level whose
running containers were made from another spec, the nodes' endpoints and their host ports. Without it, those
containers are recreated in place, all at once."""
ROLLED_KINDS = frozenset({Release.Kind.UPDATE, Release.Kind.ROLLBACK, Release.Kind.REDEPLOY})
IN_ROTATION: list[Callable[[list[Container], float, Callable[[], None]], list[str]]] = []
"""Wait up to the given seconds for containers to be in the traffic of every router that serves their service (calling
the last argument, the release's heartbeat, while it waits); the names of those that are not (none: all are, or none
is routed). Filled by the routing service."""
DRAIN: list[Callable[[list[Container], float, Callable[[], None]], None]] = []
"""Wait up to the given seconds for the routers' connections to containers taken out of rotation (``BEFORE_REMOVAL``)
to end (calling the heartbeat while it waits). Filled by the routing service."""
ROUTERS_NOW: list[Callable[[int], None]] = []
"""Bring the routers serving an application (by id) to the database's state now, not at the next scheduled sync (a
canary measures from the moment its weights are in place). Filled by the routing service."""
REQUEST_LOG: list[Callable[[list[Container], float], list[str]]] = []
"""The routers' request lines (``<backend> <server> <status> <ms>``) for these containers' services since a UNIX
time: what a canary is judged by. Filled by the routing service."""
PREVIEWS: list[Callable[[list[Container]], list[str]]] = []
"""Where the new version of a blue-green or canary release answers alone. Filled by the routing service."""
ROUTED: list[Callable[[Application], set[str]]] = []
"""The names of an application's services the routers serve. Filled by the routing service."""
PULLED: list[Callable[[Application, Node, str, str], None]] = []
"""Told of each image a release pulled on a node (application, node, image, what the release said of it). Filled by
the observability layer (its events pages list pulls)."""
TICK_SECONDS = 5.0  # heartbeat interval while a pool works (long pulls)
PULL_PUBLISH_SECONDS = 0.25  # at most this often a live pull message per node and image, besides milestones

ACTIONS = {
    Release.Kind.DEPLOY: "cs:CreateApplication",
    Release.Kind.UPDATE: "cs:UpdateApplication",
    Release.Kind.ROLLBACK: "cs:RollbackApplication",
    Release.Kind.SCALE: "cs:ScaleService",
    Release.Kind.REDEPLOY: "cs:RedeployApplication",
    Release.Kind.KILL: "cs:KillApplication",
    Release.Kind.CONTAINER: "cs:ModifyContainer",
    Release.Kind.START: "cs:StartApplication",
    Release.Kind.STOP: "cs:StopApplication",
    Release.Kind.RESTART: "cs:RestartApplication",
    Release.Kind.DELETE: "cs:DeleteApplication",
}
STATUS_DURING = {
    Release.Kind.DEPLOY: Application.Status.DEPLOYING,
    Release.Kind.UPDATE: Application.Status.DEPLOYING,
    Release.Kind.ROLLBACK: Application.Status.DEPLOYING,
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
    Release.Kind.ROLLBACK: Application.Status.RUNNING,
    Release.Kind.SCALE: Application.Status.RUNNING,
    Release.Kind.REDEPLOY: Application.Status.RUNNING,
    Release.Kind.KILL: Application.Status.STOPPED,
    Release.Kind.CONTAINER: Application.Status.RUNNING,
    Release.Kind.START: Application.Status.RUNNING,
    Release.Kind.STOP: Application.Status.STOPPED,
    Release.Kind.RESTART: Application.Status.RUNNING,
    Release.Kind.DELETE: Application.Status.DELETED,
}


class ReleaseFailed(work.WorkFailed):
    """The release cannot complete; the message is for people."""


class Run(work.Runner):
    """One execution of a release: the engine's runner with the application's status, events and log entry."""

    model = Release
    live_group = "application"
    failures = (host.HostError, PlacementError)

    def __init__(self, release: Release) -> None:
        super().__init__(release)
        self.release = release
        self.app = release.application
        self.masker = stacks.masker_of(self.app)  # events and errors are read by whoever may see the application
        self.retired = False  # a first deploy failed and left nothing on the nodes: the application goes too
        self.recovered = False  # the release failed, and rolled the application back to what ran before it

    @classmethod
    def rows(cls) -> QuerySet[Release]:
        return Release.objects.select_related("application", "application__cluster", "application__tenant", "actor")

    def live_id(self) -> int:
        return self.app.pk

    def publish(self) -> None:
        """The release's state, with what users write now (paused, decision, weight) read again."""
        mine = Release.objects.filter(pk=self.release.pk).values("paused", "decision", "weight").first() or {}
        self.release.paused = mine.get("paused", False)
        self.release.decision = mine.get("decision", "")
        self.release.weight = mine.get("weight", 0)
        super().publish()

    def steps(self) -> None:
        RUNNERS[self.release.kind](self)

    def begin(self) -> None:
        self.app_status(STATUS_DURING[self.release.kind])
        self.event(_("%(kind)s started.") % {"kind": self.release.get_kind_display().capitalize()})

    def conclude(self, final: str, error: str) -> None:
        """The application's status after the release, and its last event.

        When the application goes (a delete, or a first deploy that left nothing), the release's final state and
        its last event are sent before the application's "deleted": a page stops listening on that message, so
        whatever came after it would never be shown (the page would keep "delete running" forever)."""
        release = self.release
        kind = release.get_kind_display().capitalize()
        if final == Release.Status.SUCCESSFUL and release.kind == Release.Kind.DELETE:
            self.event(_("%(kind)s finished.") % {"kind": kind})
            self.publish()  # the release's final state; the engine sends it again after this, harmlessly
            self.app_status(Application.Status.DELETED, deleted_at=timezone.now())
            return
        if final == Release.Status.SUCCESSFUL:
            self.app_status(STATUS_AFTER[release.kind])
            self.event(_("%(kind)s finished.") % {"kind": kind})
            return
        failed = _("%(kind)s %(status)s: %(error)s") % {"kind": kind, "status": final, "error": error}
        if self.retired:  # a first deploy that left nothing: no failed application stays behind
            self.event(failed, "error")
            self.publish()
            self.app_status(Application.Status.DELETED, deleted_at=timezone.now())
            return
        self.app_status(Application.Status.RUNNING if self.recovered else Application.Status.FAILED)
        self.event(failed, "error")

    def log_entry(self) -> dict[str, Any]:
        release, app = self.release, self.app
        return {
            "action": ACTIONS[release.kind],
            "actor": release.actor,
            "tenant": app.tenant,
            "resource": app.resource_name,
            "target": app.name,
            "cluster_id": app.cluster_id,
            "parameters": {"release": release.pk, "kind": release.kind, "attempts": release.attempts},
            "source": "task",
        }

    def event(self, message: str, level: str = "info") -> None:
        """A line of the release's progress: a ``ReleaseEvent`` (replayed to reconnecting pages), sent live."""
        message = self.masker.text(message)[:500]
        ev = ReleaseEvent.objects.create(release=self.release, application=self.app, message=message, level=level)
        live.publish("application", self.app.pk, ev.as_live())

    def events(self, messages: list[str], level: str = "info") -> None:
        """Several lines of progress: one INSERT, one live message for them all."""
        rows = [
            ReleaseEvent(release=self.release, application=self.app, message=self.masker.text(m)[:500], level=level)
            for m in messages
        ]
        ReleaseEvent.objects.bulk_create(rows)  # SQLite >= 3.35 and PostgreSQL give the ids back (pages replay by id)
        live.publish_many("application", self.app.pk, [r.as_live() for r in rows])

    def mask(self, text: str) -> str:
        return self.masker.text(text)

    def lost_reason(self) -> str:
        return _("The worker running this release stopped answering (%(n)s attempts).") % {"n": self.release.attempts}

    def container_changed(self, container: Container) -> None:
        live.publish("application", self.app.pk, container.as_live())
        containers_changed(self.app.pk)

    def containers_changed(self, containers: list[Container]) -> None:
        """Several containers' rows, as one live message."""
        live.publish_many("application", self.app.pk, [c.as_live() for c in containers])
        containers_changed(self.app.pk)

    def app_status(self, status: str, **extra: Any) -> None:
        Application.objects.filter(pk=self.app.pk).update(status=status, updated_at=timezone.now(), **extra)
        self.app.status = status
        live.publish("application", self.app.pk, {"type": "application", "id": self.app.pk, "status": status})
        live.cluster_changed(self.app.cluster_id)  # its page lists the applications and who joins which network


def execute(release_id: int) -> str:
    """Carry out release ``release_id`` if it is still active (``console.work.execute``); its final status, or
    "skipped". Running it twice is harmless."""
    return work.execute(Run, release_id)


def pool_map(
    items: Iterable[T],
    fn: Callable[[T], Any],
    on_result: Callable[[T, Any, BaseException | None], None],
    tick: Callable[[], None] | None = None,
    node_of: Callable[[T], Hashable] | None = None,
    settle: Callable[[], None] | None = None,
) -> None:
    """Run ``fn`` over ``items`` in a pool: at most BERTH_WORKERS_PER_RELEASE at a time on one node
    (``node_of(item)``; without it, on the whole), every node at once. ``on_result`` is called in this thread as
    each finishes, and ``tick`` every few seconds while waiting (a heartbeat during long work such as pulls).
    ``settle`` is called in this thread after the results of each wake-up, and at least every PROGRESS_SECONDS
    while waiting: it writes what the results left to write together (``_Lines``)."""
    items = list(items)
    if not items:
        return
    per_node = max(1, settings.BERTH_WORKERS_PER_RELEASE)
    limits = {key: threading.Semaphore(per_node) for key in {node_of(i) if node_of else None for i in items}}

    def wrapped(item: T) -> Any:
        try:
            with limits[node_of(item) if node_of else None]:
                return fn(item)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=min(len(items), per_node * len(limits))) as pool:
        futures: dict[Future[Any], T] = {pool.submit(wrapped, item): item for item in items}
        pending = set(futures)
        heard = time.monotonic()  # when a result or a tick came last
        while pending:
            wake = [t for t, wanted in ((TICK_SECONDS, tick), (work.PROGRESS_SECONDS, settle)) if wanted is not None]
            finished, pending = wait(pending, timeout=min(wake, default=None), return_when=FIRST_COMPLETED)
            now = time.monotonic()
            if finished:
                heard = now
            elif tick is not None and now - heard >= TICK_SECONDS:
                tick()
                heard = now
            for future in finished:
                exc = future.exception()
                on_result(futures[future], None if exc else future.result(), exc)
            if settle is not None:
                settle()


class _Lines:
    """Steps done whose events are written together (``Runner.steps_done``: one INSERT, one live message), at
    most every PROGRESS_SECONDS and at the end: a release of many containers does not write and send an event
    per container. Container rows are not held back: their state is written (and sent) as each result arrives,
    in order with what the events watcher writes."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.waiting: list[str] = []
        self.written = time.monotonic()

    def add(self, message: str) -> None:
        self.waiting.append(message)

    def settle(self) -> None:
        """Write the waiting lines if the last write is PROGRESS_SECONDS old."""
        if self.waiting and time.monotonic() - self.written >= work.PROGRESS_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the waiting lines now."""
        lines, self.waiting = self.waiting, []
        self.written = time.monotonic()
        self.run.steps_done(lines)


def record_state(run: Run, container: Container, state: host.ContainerState, spec_hash: str | None = None) -> None:
    port = next(iter(state.ports.values()), None)
    fields: dict[str, Any] = {"docker_id": state.id, "state": state.state, "published_port": port}
    if spec_hash is not None:
        fields["spec_hash"] = spec_hash
    Container.objects.filter(pk=container.pk).update(**fields)
    container.docker_id, container.state, container.published_port = state.id, state.state, port
    run.container_changed(container)


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
    except (work.WorkFailed, work.Canceled, PlacementError, host.HostError) as exc:
        ending = work.Canceled if isinstance(exc, work.Canceled) else ReleaseFailed
        if not first_deploy:
            raise ending(str(exc)) from exc
        run.event(_("Removing what this deploy created."), "warning")
        try:
            _remove_everything(run, count_progress=False)
        except (work.WorkFailed, host.HostError) as cleanup:
            raise ReleaseFailed(
                _("%(error)s (cleanup incomplete: %(cleanup)s)") % {"error": exc, "cleanup": cleanup}
            ) from exc
        if run.release.kind == Release.Kind.DEPLOY:
            run.retired = True
            said = str(exc).rstrip()
            said += "" if said.endswith((".", "!", "?")) else "."  # a sentence of its own before the next
            raise ending(_("%(error)s Nothing was deployed; the application is removed.") % {"error": said}) from exc
        raise ending(str(exc)) from exc


def within_policy(run: Run) -> None:
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
    app = run.app
    within_policy(run)
    _settle_generations(run, services)
    changes = converge.desired_changes(app, services, recreate_all=recreate_all)
    assignment = stacks.placement(app.name, app.cluster, app, stacks.rows_of_services(services), changes["keep"])
    converge.create_rows(app, services, assignment)
    removing = {r.pk for r in changes["remove"]}
    recreate_ids = {r.pk for r in changes["recreate"]}
    rows = list(Container.objects.filter(service__application=app).select_related("node", "service"))
    run.containers_changed(rows)
    todo = {
        r.pk: r
        for r in rows
        if r.pk not in removing and (r.pk in recreate_ids or not r.docker_id or r.state != "running")
    }
    run.set_total(len(todo) + len(changes["remove"]))
    involved = {r.node_id: r.node for r in rows if r.pk not in removing}
    renewed = prepare_nodes(run, involved, services, pull=pull)
    for row in rows:  # a pull brought a new image for the tag: its containers are made again from it (as Compose)
        if row.docker_id and row.pk not in removing and (row.node_id, converge.image_of(row.service)) in renewed:
            if row.pk not in todo:
                todo[row.pk] = row
                run.event(_("%(name)s will be recreated: its image is new.") % {"name": row.name})
            recreate_ids.add(row.pk)
    if len(todo) + len(changes["remove"]) != run.release.progress_total:
        run.set_total(len(todo) + len(changes["remove"]))
    _remove_rows(run, changes["remove"])
    endpoints = {node_id: host.Endpoint.of(node) for node_id, node in involved.items()}
    ports = {node_id: converge.HostPorts(endpoint) for node_id, endpoint in endpoints.items()}
    rolling = ROLLING[0] if ROLLING and run.release.kind in ROLLED_KINDS else None
    for level in stacks.levels(stacks.rows_of_services(services)):
        group = [r for r in todo.values() if r.service.name in level]
        rolled = [r for r in group if rolling and r.pk in recreate_ids and r.docker_id and r.state == "running"]
        group = [r for r in group if r not in rolled]
        if group:  # services of one level do not depend on each other: all their containers at once
            _start_containers(run, services, group, recreate_ids, endpoints, ports)
        if rolled and rolling is not None:  # running ones are replaced batch by batch, health-gated
            rolling(run, services, rolled, endpoints, ports)
    _remove_strays(run)


def _settle_generations(run: Run, services: list[Service]) -> None:
    """One container per replica before a release plans: where two generations of a replica are left (a rolling
    release's worker died between a new container's start and the old one's removal, or a blue-green release was
    failed without its runner), the newest that runs and is made from the current spec stays, else the oldest; the
    others leave the routers and go."""
    rows: dict[tuple[int, int], list[Container]] = {}
    for row in Container.objects.filter(service__in=services).select_related("node", "service"):
        rows.setdefault((row.service_id, row.index), []).append(row)
    doubled = {key: found for key, found in rows.items() if len(found) > 1}
    # A blue-green or canary release that ended without its runner (the reaper failed it) leaves shares: what
    # stays takes all its routes' traffic again.
    split = Container.objects.filter(service__in=services).exclude(candidate=False, traffic_weight=100)
    if split.update(candidate=False, traffic_weight=100):
        containers_changed(run.app.pk)
    if not doubled:
        return
    current = {s.pk: converge.fingerprint(run.app, s) for s in services}
    doomed: list[Container] = []

    def healthy(row: Container) -> bool:
        try:
            seen = host.container_health(host.Endpoint.of(row.node), row.docker_id)
        except host.HostError:
            return False
        return seen.state == "running" and seen.health in ("", "healthy")

    for (service_id, _index), found in doubled.items():
        confirmed = [c for c in found if not c.candidate]
        if len(confirmed) < len(found) and confirmed:  # a blue-green or canary version never confirmed: it goes
            keep = min(confirmed, key=lambda c: c.generation)
        else:  # a rolling batch cut short: its new container stays if it runs, healthy, from the current spec
            fresh = [
                c
                for c in found
                if c.spec_hash == current[service_id] and c.state == "running" and c.docker_id and healthy(c)
            ]
            keep = max(fresh, key=lambda c: c.generation) if fresh else min(found, key=lambda c: c.generation)
        doomed += [c for c in found if c.pk != keep.pk]
    run.event(
        _("%(n)s container(s) an interrupted release left beside their replica are removed.") % {"n": len(doomed)}
    )
    running = [c for c in doomed if c.docker_id]
    let_go(run, running)
    for drain in DRAIN if running else ():  # requests on their way to them finish first
        try:
            drain(running, float(settings.BERTH_STOP_TIMEOUT), run.heartbeat)
        except Exception as exc:  # noqa: BLE001 - draining is a courtesy; the removal goes on
            log.warning("release %s: draining failed: %s", run.release.pk, exc)
    endpoints = endpoints_of(c.node for c in running)
    for row in doomed:
        if row.docker_id:
            host.stop_container(reach(endpoints, row.node_id), row.docker_id, settings.BERTH_STOP_TIMEOUT)
            host.remove_container(reach(endpoints, row.node_id), row.docker_id)
        Container.objects.filter(pk=row.pk).delete()
        live.publish("application", run.app.pk, {"type": "container", "name": row.name, "state": "removed"})
    containers_changed(run.app.pk)


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
                _("Could not pull %(image)s on %(node)s (%(reason)s): the node has a copy of it, which is used.")
                % {"image": pull.image, "node": node.name, "reason": pull.error},
                "warning",
            )
            continue
        _current, total = pull.state.downloaded
        if pull.state.changed:
            text = _("Pulled %(image)s on %(node)s: %(layers)s layer(s), %(size)s in %(seconds).1f s (%(digest)s).")
        else:
            text = _("%(image)s on %(node)s is up to date (%(digest)s).")
        said = text % {
            "image": pull.image,
            "node": node.name,
            "layers": pull.state.layers_fetched,
            "size": human_bytes(total),
            "seconds": pull.seconds,
            "digest": pull.state.digest or "no digest",
        }
        run.event(said)
        for listener in PULLED:
            try:
                listener(run.app, node, pull.image, said)
            except Exception:  # noqa: BLE001 - an events page missing a pull must not fail the release
                log.exception("release %s: a pull listener failed", run.release.pk)


def prepare_nodes(
    run: Run, nodes: dict[int, Node], services: list[Service], *, pull: bool = False
) -> set[tuple[int, str]]:
    """On each node in parallel: images there (pulled when missing or asked, with live progress per
    layer), networks and volumes made. Returns the (node id, image) pairs a pull changed."""
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

    try:
        converge.prepare_networks(app, services)
    except host.HostError as exc:
        raise ReleaseFailed(_("The cluster network is not ready: %(e)s") % {"e": exc}) from exc

    pool_map(nodes.values(), prepare, done, tick=run.heartbeat, node_of=lambda node: node.pk)
    if errors:
        raise ReleaseFailed("; ".join(errors))
    run.checkpoint()
    return renewed


Reach = dict[int, "host.Endpoint | host.HostError"]


def endpoints_of(nodes: Iterable[Node]) -> Reach:
    """Each node's endpoint, read once for a whole pool (its threads then only talk to Docker); a node Berth may
    not reach has the refusal instead, which each of its items raises (``reach``)."""
    found: Reach = {}
    for node in nodes:
        if node.pk not in found:
            try:
                found[node.pk] = host.Endpoint.of(node)
            except host.HostError as exc:
                found[node.pk] = exc
    return found


def reach(endpoints: Reach, node_id: int) -> host.Endpoint:
    endpoint = endpoints[node_id]
    if isinstance(endpoint, host.HostError):
        raise host.HostError(str(endpoint))
    return endpoint


def let_go(run: Run, rows: list[Container]) -> None:
    """Hand ``rows`` to every ``BEFORE_REMOVAL`` callback; one that fails is a warning, never a failed release."""
    for callback in BEFORE_REMOVAL if rows else ():
        try:
            callback(rows)
        except Exception as exc:  # noqa: BLE001 - letting go is a courtesy; the removal goes on
            log.warning("release %s: letting go of %d containers failed: %s", run.release.pk, len(rows), exc)


def _remove_rows(run: Run, rows: list[Container]) -> None:
    """Stop the containers of these rows within their stop grace period (TERM, then KILL), remove them, then the
    rows (scale-down: highest indexes)."""
    errors: list[str] = []
    endpoints = endpoints_of(c.node for c in rows if c.docker_id)
    let_go(run, [c for c in rows if c.docker_id])
    services = {s.pk: s for s in run.app.services.all()}
    grace = {
        pk: converge.service_spec(run.app, service).stop_timeout or settings.BERTH_STOP_TIMEOUT
        for pk, service in services.items()
    }

    def remove(c: Container) -> None:
        if c.docker_id:
            endpoint = reach(endpoints, c.node_id)
            host.stop_container(endpoint, c.docker_id, int(grace.get(c.service_id, settings.BERTH_STOP_TIMEOUT)))
            host.remove_container(endpoint, c.docker_id)

    def done(c: Container, _r: Any, exc: BaseException | None) -> None:
        if exc is not None:
            errors.append(f"{c.name}: {exc}")
            return
        Container.objects.filter(pk=c.pk).delete()
        live.publish("application", run.app.pk, {"type": "container", "name": c.name, "state": "removed"})
        containers_changed(run.app.pk)
        run.step(_("%(name)s removed.") % {"name": c.name})

    pool_map(sorted(rows, key=lambda c: -c.index), remove, done, node_of=lambda c: c.node_id)
    if errors:
        raise ReleaseFailed("; ".join(errors))


def _remove_strays(run: Run) -> None:
    """Containers of this application that no row describes any more (a service an update dropped)."""
    app = run.app
    known = {
        (c.service.name, str(c.index), c.generation, c.node_id)
        for c in Container.objects.filter(service__application=app).select_related("service")
    }
    labels = {**host.managed(), "berth.application": str(app.pk)}
    failures: list[BaseException] = []

    def sweep(node: Node) -> list[str]:  # one listing per node, every node at once
        endpoint = host.Endpoint.of(node)
        removed = []
        for state in host.list_containers(endpoint, labels, sparse=True):
            replica = (state.labels.get("berth.service"), state.labels.get("berth.replica"))
            if (*replica, converge.generation_of(state.labels), node.pk) not in known:
                host.remove_container(endpoint, state.id)
                removed.append(state.name)
        return removed

    def swept(node: Node, removed: Any, exc: BaseException | None) -> None:
        if exc is not None:
            failures.append(exc)
            return
        for name in removed:
            run.event(_("%(name)s removed (no longer in the application).") % {"name": name})

    nodes = Node.objects.filter(cluster_id=app.cluster_id, state=Node.State.READY)
    pool_map(nodes, sweep, swept, node_of=lambda node: node.pk)
    if failures:
        raise failures[0]


def _start_containers(
    run: Run,
    services: list[Service],
    containers: list[Container],
    recreate: set[int],
    endpoints: Reach,
    ports: dict[int, converge.HostPorts],
) -> None:
    """Make ``containers``, then start them, as Compose does: first every container is created (those in
    ``recreate`` replace their current container and keep its pinned host ports), then every one is started, each
    phase all at once within each node's limit. Creating first keeps the quick creations from queueing behind the
    engine's slow starts. Each row records its container and the fingerprint it was made from."""
    app, release = run.app, run.release
    by_service = {s.pk: s for s in services}
    fingerprints = {s.pk: converge.fingerprint(app, s) for s in services}
    specs = {c.pk: converge.container_spec(app, by_service[c.service_id], release, c) for c in containers}
    made: dict[int, converge.Made] = {}
    errors: list[str] = []
    let_go(run, [c for c in containers if c.pk in recreate and c.docker_id])

    def failed(c: Container, exc: BaseException) -> None:
        errors.append(f"{c.name}: {exc}")
        fields: dict[str, Any] = {"state": "failed"}
        if c.pk not in made or made[c.pk].created:  # never made, or made here and removed again: none on the node
            fields["docker_id"] = ""
        Container.objects.filter(pk=c.pk).update(**fields)
        c.state, c.docker_id = "failed", fields.get("docker_id", c.docker_id)
        run.container_changed(c)
        run.event(_("%(name)s failed: %(reason)s") % {"name": c.name, "reason": exc}, "error")

    def create(c: Container) -> converge.Made:
        endpoint = reach(endpoints, c.node_id)
        keep = None
        if c.pk in recreate and c.docker_id:
            if any(port is None for _ip, port in specs[c.pk].ports.values()):
                old = host.find_container(endpoint, c.docker_id)
                keep = host.pinned_ports(old.labels) if old is not None else None
            host.remove_container(endpoint, c.docker_id)
        return converge.make_container(endpoint, specs[c.pk], ports[c.node_id], keep)

    def created(c: Container, result: Any, exc: BaseException | None) -> None:
        if exc is not None:
            failed(c, exc)
        else:
            made[c.pk] = result

    def start(c: Container) -> tuple[host.ContainerState, bool]:
        return converge.start_made(reach(endpoints, c.node_id), made[c.pk], ports[c.node_id])

    def started(c: Container, result: Any, exc: BaseException | None) -> None:
        if exc is not None:
            failed(c, exc)
            return
        state, _created = result
        record_state(run, c, state, spec_hash=fingerprints[c.service_id])
        lines.add(_("%(name)s is %(state)s on %(node)s.") % {"name": c.name, "state": state.state, "node": c.node.name})

    lines = _Lines(run)
    pool_map(containers, create, created, node_of=lambda c: c.node_id)
    pool_map([c for c in containers if c.pk in made], start, started, node_of=lambda c: c.node_id, settle=lines.settle)
    lines.flush()
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
            record_state(run, c, result)
        run.step(_("%(name)s %(verb)s.") % {"name": c.name, "verb": verb})

    endpoints = endpoints_of(c.node for c in containers)
    pool_map(containers, lambda c: action(reach(endpoints, c.node_id), c), done, node_of=lambda c: c.node_id)
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
        mine = {**host.managed(), "berth.application": str(app.pk)}
        return host.list_containers(host.Endpoint.of(node), mine, sparse=True)

    def scanned(node: Node, result: Any, exc: BaseException | None) -> None:
        if exc is not None:
            errors.append(f"{node.name}: {exc}")
        else:
            found[node.id] = result

    pool_map(nodes, scan, scanned, node_of=lambda node: node.pk)
    if count_progress:
        run.set_total(sum(len(v) for v in found.values()) + len(nodes))
    node_by_id = {n.id: n for n in nodes}
    doomed = [(node_by_id[nid], state) for nid, states in found.items() for state in states]
    endpoints = endpoints_of(node_by_id[nid] for nid in found)

    def removed(item: tuple[Node, host.ContainerState], _r: Any, exc: BaseException | None) -> None:
        node, state = item
        if exc is not None:
            errors.append(f"{state.name}: {exc}")
            return
        # The watcher tells browsers about the removal, in order with the container's other events.
        Container.objects.filter(service__application=app, docker_id=state.id).delete()
        if count_progress:
            run.step(_("%(name)s removed from %(node)s.") % {"name": state.name, "node": node.name})

    pool_map(
        doomed,
        lambda item: host.remove_container(reach(endpoints, item[0].pk), item[1].id),
        removed,
        node_of=lambda item: item[0].pk,
    )

    def drop_network(node: Node, _r: Any, exc: BaseException | None) -> None:
        if isinstance(exc, host.NetworkInUse):  # the containers are gone; the engine's fault keeps the network
            log.warning("network %s on node %s left behind: %s", app.network_name, node.name, exc)
            run.event(
                _(
                    "Network %(net)s stays on %(node)s: the engine still counts a container on it although none is "
                    "left (a Docker 20.10 fault); it is freed when that engine restarts, and reused by an "
                    "application of the same name meanwhile."
                )
                % {"net": app.network_name, "node": node.name},
                "warning",
            )
        elif exc is not None:
            errors.append(f"{node.name}: {exc}")
        elif count_progress:
            run.step(_("Network %(net)s removed from %(node)s.") % {"net": app.network_name, "node": node.name})

    if network.uses_overlay(app.cluster):
        if not errors:  # its containers are gone from every node: its networks of the cluster network go
            try:
                for name in network.remove_networks(app.cluster, {**host.managed(), "berth.application": str(app.pk)}):
                    if count_progress:
                        run.event(_("Network %(net)s removed.") % {"net": name})
            except host.NetworkInUse as exc:  # its containers are gone: the swarm still counts one on it
                log.warning("cluster network of application %s left behind: %s", app.pk, exc)
                message = _(
                    "The application's cluster network stays: the swarm still counts an attachment on it although "
                    "no container is left (%(e)s); an application of the same name reuses it."
                )
                run.event(message % {"e": exc}, "warning")
            except host.HostError as exc:
                errors.append(str(exc))
        if count_progress:
            for _node in nodes:
                run.step()
    else:
        pool_map(
            nodes,
            lambda node: host.remove_network(host.Endpoint.of(node), app.network_name),
            drop_network,
            node_of=lambda node: node.pk,
        )
    # Rows of containers that never reached a host go in any case; the others only when their nodes answered.
    for name in Container.objects.filter(service__application=app, docker_id="").values_list("name", flat=True):
        live.publish("application", app.pk, {"type": "container", "name": name, "state": "removed"})
    Container.objects.filter(service__application=app, docker_id="").delete()
    if errors:
        raise ReleaseFailed("; ".join(errors))
    Container.objects.filter(service__application=app).delete()


def delete(run: Run) -> None:
    """Remove the application's containers and networks (and, when asked, its volumes) from every node."""
    for callback in BEFORE_DELETE:
        try:
            callback(run.app)
        except Exception as exc:  # noqa: BLE001 - letting go is a courtesy; the removal goes on
            log.warning("release %s: letting go of %s failed: %s", run.release.pk, run.app.name, exc)
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
    record_digests(run)


def update(run: Run) -> None:
    """Apply a new version: changed services recreated, new ones created, dropped ones removed."""
    deploy(run)
    record_digests(run)


def scale(run: Run) -> None:
    """Reach the new scale: new replicas placed by the scheduler, highest indexes removed first."""
    deploy(run)


def redeploy(run: Run) -> None:
    """Pull every image again (the tags: a rollback's pinned digests are let go) and recreate every container."""
    Service.objects.filter(application=run.app).exclude(pinned_image="").update(pinned_image="")
    deploy(run, pull=True, recreate_all=True)
    record_digests(run, new_version_if_changed=True)


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
        record_state(run, row, host.restart_container(endpoint, row.docker_id, settings.BERTH_STOP_TIMEOUT))
    elif action == "stop" and row.docker_id:
        host.stop_container(endpoint, row.docker_id, settings.BERTH_STOP_TIMEOUT)
        found = host.find_container(endpoint, row.docker_id)
        if found is not None:
            record_state(run, row, found)
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


def record_digests(run: Run, *, new_version_if_changed: bool = False) -> None:
    """Store the image digests the version runs on (rollback restores exactly these images).

    With ``new_version_if_changed`` (a redeploy), images that changed under the same tags make a new
    version with the same text and variables, so that the earlier version keeps its own digests.
    """
    version = AppVersion.objects.filter(application=run.app, number=run.app.version).first()
    if version is None:
        return
    digests: dict[str, str] = {}
    known: dict[tuple[int, str], str] = {}  # one question per node and image, however many services run it
    first = {}
    for row in Container.objects.filter(service__application=run.app).select_related("node").order_by("index"):
        first.setdefault(row.service_id, row)
    for service in run.app.services.all():
        row = first.get(service.pk)
        if row is None:
            continue
        key = (row.node_id, converge.image_of(service))
        if key not in known:
            try:
                known[key] = host.image_digest(host.Endpoint.of(row.node), key[1])
            except host.HostError:
                continue
        digests[service.name] = known[key]
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
    Release.Kind.ROLLBACK: update,
    Release.Kind.SCALE: scale,
    Release.Kind.REDEPLOY: redeploy,
    Release.Kind.KILL: kill,
    Release.Kind.CONTAINER: container_action,
    Release.Kind.START: start,
    Release.Kind.STOP: stop,
    Release.Kind.RESTART: restart,
    Release.Kind.DELETE: delete,
}
