"""The steps of node tasks: provision, drain and remove, remove, reset, failover after a node failure, and the
re-certification of a rotated CA, carried out by the one long-work engine (``console.work``: claim, attempts,
heartbeat, cancel checkpoints, progress, and the finish with its operation-log entry and live message).

What runs on the nodes (containers) lives with applications, above clusters: this layer knows it only as the
``Workload`` the applications hand it when Django starts (``apps.nodework``, from ``apps.apps``), with the steps of
the kinds that move containers (drain, failover).

Like releases, each is safe to run twice: a container already moved is skipped, a replacement that
an earlier attempt created is adopted, and never more copies run than the desired scale. A node leaves its
cluster only after its host is torn down (a host the provider started): a teardown that fails or is interrupted
fails the task (or the reaper resumes it), the node stays in the cluster, and running the removal again finishes
it, so no engine keeps running for a node that is gone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from clusters import authority, hostaccess, network, rotation
from clusters import docker_host as host
from clusters.models import NODE_LEAVING, Cluster, Node, NodeTask, node_changed
from clusters.operations import delete_cluster_rows, register_node
from clusters.providers import PROVIDERS
from clusters.workload import workload
from console import live, work
from console.errors import Unsatisfiable

log = logging.getLogger(__name__)


class TaskFailed(work.WorkFailed):
    """The task cannot complete; the message is for people."""


class Task(work.Runner):
    """One execution of a node task: the engine's runner with the cluster's live group and the node's state."""

    model = NodeTask
    live_group = "cluster"
    failures = (Unsatisfiable, host.HostError)

    def __init__(self, task: NodeTask) -> None:
        super().__init__(task)
        self.task = task

    @classmethod
    def rows(cls) -> QuerySet[NodeTask]:
        return NodeTask.objects.select_related("cluster", "cluster__tenant", "node", "actor")

    def live_id(self) -> int:
        return self.task.cluster_id

    def steps(self) -> None:
        runner = RUNNERS.get(self.task.kind) or workload().runners[self.task.kind]
        runner(self.task, self)

    def conclude(self, final: str, error: str) -> None:
        """A drain that did not finish gives the node back to the cluster."""
        task = self.task
        if task.kind == NodeTask.Kind.DRAIN and final != NodeTask.Status.SUCCESSFUL and task.node_id:
            Node.objects.filter(pk=task.node_id, state=Node.State.DRAINING).update(state=Node.State.READY)

    def log_entry(self) -> dict[str, Any]:
        task = self.task
        return {
            "action": ACTIONS[task.kind],
            "actor": task.actor,
            "tenant": task.cluster.tenant,
            "resource": task.cluster.resource_name,
            "target": task.target_name or (task.node.name if task.node else task.cluster.name),
            "cluster_id": task.cluster_id,
            "parameters": {
                "task": task.pk,
                "kind": task.kind,
                "done": task.progress_done,
                "total": task.progress_total,
            },
            "source": "task" if task.actor else "system",
        }

    def lost_reason(self) -> str:
        return _("The worker running this task stopped answering (%(n)s attempts).") % {"n": self.task.attempts}


def execute(task_id: int) -> str:
    """Carry out node task ``task_id`` if it is still active (``console.work.execute``); its final status, or
    "skipped". Safe to run twice."""
    return work.execute(Task, task_id)


# --- the task kinds --------------------------------------------------------------------------------


def leave(node: Node) -> None:
    """Take the node out of its cluster: it leaves the cluster network, then its host is torn down when a provider
    started it (HostError, and the node stays, when anything of it remains: the task fails or is resumed and tries
    again), then the state. What the layers above run on it for the cluster goes first (``NODE_LEAVING``)."""
    for leaving in NODE_LEAVING:
        try:
            leaving(node)
        except Exception as exc:  # noqa: BLE001 - a courtesy: the node leaves anyway
            log.warning("node %s: what runs on it for its cluster did not go: %s", node.name, exc)
    network.leave(node)
    provider = PROVIDERS.get(node.provider)
    if provider is not None and node.provider_ref:
        provider.destroy_host(node.provider_ref)
    Node.objects.filter(pk=node.pk).update(state=Node.State.REMOVED)
    node.state = Node.State.REMOVED
    live.publish("cluster", node.cluster_id, node.as_live())
    node_changed(node)


def remove(task: NodeTask, run: Task) -> None:
    """Without drain: remove Berth's containers from the node (or from every node of a deleted cluster)."""
    nodes = [task.node] if task.node else list(task.cluster.nodes.exclude(state=Node.State.REMOVED))
    run.set_total(len(nodes))
    errors = []
    for node in nodes:
        if node.state != Node.State.REMOVED:  # a resumed task: a node already gone is not touched again
            try:
                _reset(node)
            except host.HostError as exc:
                if not task.params.get("force"):
                    errors.append(f"{node.name}: {exc}")
            leave(node)  # a host that does not go away fails the task here: the node stays, to try again
        run.step()
    if errors:
        raise TaskFailed("; ".join(errors))
    if task.params.get("delete_cluster"):
        NodeTask.objects.filter(pk=task.pk).update(node=None)
        delete_cluster_rows(task.cluster)


def _reset(node: Node) -> int:
    """Remove Berth's containers of the node's own cluster and tenant from it (never another tenant's or another
    cluster's on a shared engine) and their rows."""
    endpoint = host.Endpoint.of(node, timeout=15)
    mine = {**host.managed(), "berth.tenant": str(node.cluster.tenant_id), "berth.cluster": str(node.cluster_id)}
    found = host.list_containers(endpoint, mine)
    for state in found:
        host.remove_container(endpoint, state.id)
    workload().forget_node(node)
    return len(found)


def reset(task: NodeTask, run: Task) -> None:
    """Remove every Berth container from the node."""
    assert task.node is not None
    run.set_total(1)
    count = _reset(task.node)
    run.step(_("%(n)s container(s) removed") % {"n": count})


def provision(task: NodeTask, run: Task) -> None:
    """Ask the provider for a host, then register it as a node behind the cluster's TLS."""
    params = task.params
    provider = PROVIDERS[params["provider"]]
    if provider.on_this_machine and not hostaccess.has_grant(task.cluster.tenant_id):
        raise TaskFailed(str(hostaccess.NOT_GRANTED))  # the operator took the grant back since the request
    run.set_total(3)
    ca = authority.cluster_ca(task.cluster)
    made = provider.create_host(task.cluster, params["name"], ca)
    NodeTask.objects.filter(pk=task.pk).update(params={**params, "host": made.ref})
    run.step(_("host %(ref)s started") % {"ref": made.ref})
    try:
        node = register_node(
            task.actor or task.cluster.created_by or _owner(task.cluster),
            task.cluster,
            name=params["name"],
            endpoint=made.endpoint,
            publish_ip=made.address,
            zone=params.get("zone", ""),
            labels=params.get("labels") or {},
            tls_ca=task.cluster.ca_cert,
            tls_cert=task.cluster.client_cert,
            tls_key=authority.unseal(task.cluster.client_key_sealed),
            provider=params["provider"],
            provider_ref=made.ref,
            record_success=False,  # the task's own entry (finish) records that the node joined
        )
    except Exception:
        provider.destroy_host(made.ref)
        raise
    NodeTask.objects.filter(pk=task.pk).update(node=node)
    task.node = node  # the task's live messages from here on name the node it made
    run.step(_("%(node)s registered") % {"node": node.name})
    for image in provider.seed_images():
        provider.copy_image(image, node)
    run.step()


def rotate(task: NodeTask, run: Task) -> None:
    """Re-certify the cluster's nodes on its current CA (after ``rotation.rotate_ca``): each host a provider
    started gets a server certificate of the new CA and its engine is restarted with it (its containers come back by
    their restart policy), then Berth stores its new material for the node. Other nodes keep their old material
    until their renew command runs. A node already on the current CA is skipped, so a resumed task goes on."""
    cluster = task.cluster
    nodes = [n for n in Node.objects.filter(cluster=cluster).exclude(state=Node.State.REMOVED) if n.uses_tls]
    run.set_total(len(nodes))
    waiting: list[str] = []
    errors: list[str] = []
    for node in nodes:
        provider = PROVIDERS.get(node.provider)
        if node.ca_standing(cluster) == "current":
            run.step()
            continue
        if provider is None or not node.provider_ref:
            waiting.append(node.name)
            run.step(_("%(node)s waits for its renew command") % {"node": node.name})
            continue
        try:
            host.admit(node)
            provider.recertify_host(node.provider_ref, authority.cluster_ca(cluster))
            rotation.adopt_current(node, actor=task.actor, via="rotation", source="task")
        except host.HostError as exc:
            errors.append(f"{node.name}: {exc}")
        run.step(_("%(node)s runs on the new CA") % {"node": node.name})
    NodeTask.objects.filter(pk=task.pk).update(params={**task.params, "waiting_for_renewal": waiting})
    if errors:
        raise TaskFailed(
            _(
                "Some nodes were not re-certified and keep the old CA (rotate again once they answer, or remove "
                "them): %(e)s"
            )
            % {"e": "; ".join(errors)}
        )


def _owner(cluster: Cluster) -> Any:
    from accounts.models import User

    return User.objects.get(tenant_id=cluster.tenant_id, is_primary=True)


RUNNERS: dict[str, Callable[[NodeTask, Task], None]] = {
    NodeTask.Kind.PROVISION: provision,
    NodeTask.Kind.REMOVE: remove,
    NodeTask.Kind.RESET: reset,
    NodeTask.Kind.ROTATE: rotate,
}
"""The steps of the cluster's own kinds; those that move containers are the workload's (``Workload.runners``)."""
ACTIONS = {
    NodeTask.Kind.PROVISION: "cs:AddClusterNodes",
    NodeTask.Kind.DRAIN: "cs:RemoveClusterNodes",
    NodeTask.Kind.REMOVE: "cs:RemoveClusterNodes",
    NodeTask.Kind.RESET: "cs:ResetClusterNode",
    NodeTask.Kind.FAILOVER: "cs:RescheduleContainers",
    NodeTask.Kind.ROTATE: "cs:RotateClusterCertificates",
}
