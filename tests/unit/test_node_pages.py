"""A node's pages and live messages as a user meets them: a provisioned node shows on its cluster's open page, and a
removed node is gone for pages and operations alike (its tasks and its operation log stay readable)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from clusters import docker_host as host
from clusters import hostaccess, nodework, pki
from clusters import operations as ops
from clusters.models import Cluster, Node, NodeTask
from clusters.providers import PROVIDERS, MadeHost
from console import live
from console.errors import OperationConflict
from console.models import OperationLog

pytestmark = pytest.mark.django_db


class FakeProvider:
    """A provider whose hosts are names only: the engine behind them is the test's ``host.ping``."""

    on_this_machine = False

    def create_host(self, cluster: Any, name: str, ca: pki.KeyPair) -> MadeHost:
        return MadeHost(ref=f"fake-{name}", endpoint=f"unix:///nonexistent-{name}.sock", address="127.0.0.1")

    def destroy_host(self, ref: str) -> None:
        pass

    def seed_images(self) -> list[str]:
        return []


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Live messages as the publisher would send them (after commit)."""
    messages: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(live.publisher, "send", lambda group, payload: messages.append((group, payload)))
    return messages


@pytest.fixture
def cluster(owner: User) -> Cluster:
    cluster = Cluster.objects.create(tenant=owner.tenant, name="edge", created_by=owner)
    Node.objects.create(
        cluster=cluster, name="n1", endpoint="unix:///nonexistent-n1.sock", publish_ip="127.0.0.1", state="ready"
    )
    return cluster


@pytest.fixture
def removed(cluster: Cluster) -> Node:
    return Node.objects.create(
        cluster=cluster,
        name="gone",
        endpoint="unix:///nonexistent-gone.sock",
        publish_ip="127.0.0.1",
        state=Node.State.REMOVED,
        labels={"role": "old"},
    )


def browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_provisioned_node_is_sent_to_its_clusters_page_and_its_task_names_it(
    owner: User, cluster: Cluster, monkeypatch: pytest.MonkeyPatch, sent: list, django_capture_on_commit_callbacks: Any
) -> None:
    monkeypatch.setitem(PROVIDERS, "fake", FakeProvider())
    monkeypatch.setattr(host, "ping", lambda endpoint: {"engine_id": f"engine-{endpoint.url}"})
    hostaccess.grant(owner.tenant)  # the fake hosts answer at unix:// endpoints, which need the operator's grant
    with django_capture_on_commit_callbacks(execute=True):
        task = ops.provision_node(owner, cluster, name="n2", provider="fake")
    with django_capture_on_commit_callbacks(execute=True):
        assert nodework.execute(task.pk) == NodeTask.Status.SUCCESSFUL

    node = Node.objects.get(cluster=cluster, name="n2")
    group = f"cluster-{cluster.pk}"
    frames = [p for g, p in sent if g == group]
    assert {"type": "node", "id": node.pk, "name": "n2", "state": "ready"}.items() <= next(
        p for p in frames if p["type"] == "node"
    ).items()
    task_frames = [p for p in frames if p["type"] == "node_task" and p["id"] == task.pk]
    assert task_frames[-1]["status"] == "successful"
    assert task_frames[-1]["node"] == node.pk
    assert task_frames[-1]["target"] == "n2"


def test_a_registered_node_is_sent_to_its_clusters_page(
    owner: User, cluster: Cluster, monkeypatch: pytest.MonkeyPatch, sent: list, django_capture_on_commit_callbacks: Any
) -> None:
    monkeypatch.setattr(host, "ping", lambda endpoint: {"engine_id": "engine-registered"})
    hostaccess.grant(owner.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        node = ops.register_node(
            owner, cluster, name="n3", endpoint="unix:///nonexistent-n3.sock", publish_ip="10.0.0.3"
        )
    assert (f"cluster-{cluster.pk}", node.as_live()) in sent


def test_a_removed_nodes_page_answers_not_found_like_the_api(owner: User, cluster: Cluster, removed: Node) -> None:
    client = browser(owner)
    assert client.get(f"/clusters/nodes/{cluster.nodes.get(name='n1').pk}/").status_code == 200
    assert client.get(f"/clusters/nodes/{removed.pk}/").status_code == 404
    assert client.get(f"/api/v1/clusters/{cluster.pk}/nodes/{removed.pk}").status_code == 404


def test_a_removed_nodes_scheduling_form_saves_nothing(owner: User, cluster: Cluster, removed: Node) -> None:
    answer = browser(owner).post(f"/clusters/nodes/{removed.pk}/", {"zone": "", "labels": "role=new"})
    assert answer.status_code == 404
    removed.refresh_from_db()
    assert removed.labels == {"role": "old"}
    assert not OperationLog.objects.filter(action="cs:ModifyClusterNode", outcome="success").exists()


@pytest.mark.parametrize("change", ["drain", "remove", "reset"])
def test_a_removed_nodes_buttons_answer_not_found(owner: User, cluster: Cluster, removed: Node, change: str) -> None:
    answer = browser(owner).post(f"/clusters/nodes/{removed.pk}/{change}/")
    assert answer.status_code == 404
    assert not NodeTask.objects.filter(node=removed).exists()


def test_every_operation_on_a_removed_node_is_refused_with_one_message(owner: User, removed: Node) -> None:
    attempts = [
        lambda: ops.update_node(owner, removed, labels={"role": "new"}),
        lambda: ops.update_node(owner, removed, zone=""),
        lambda: ops.remove_node(owner, removed, drain=True),
        lambda: ops.remove_node(owner, removed, drain=False),
        lambda: ops.reset_node(owner, removed),
    ]
    refusals = set()
    for attempt in attempts:
        with pytest.raises(OperationConflict) as refused:
            attempt()
        refusals.add(str(refused.value))
    assert refusals == {"Node gone has been removed from the cluster."}
    removed.refresh_from_db()
    assert removed.labels == {"role": "old"}
    assert not NodeTask.objects.filter(node=removed).exists()


def test_an_operation_on_a_node_removed_since_it_was_read_is_refused(owner: User, cluster: Cluster) -> None:
    node = cluster.nodes.get(name="n1")
    Node.objects.filter(pk=node.pk).update(state=Node.State.REMOVED)  # another request removed it meanwhile
    with pytest.raises(OperationConflict):
        ops.update_node(owner, node, labels={"a": "b"})
    assert Node.objects.get(pk=node.pk).labels == {}


def test_a_removed_nodes_tasks_and_log_stay_readable(owner: User, cluster: Cluster, removed: Node) -> None:
    task = NodeTask.objects.create(
        cluster=cluster, node=removed, kind=NodeTask.Kind.DRAIN, status="successful", target_name="gone"
    )
    client = browser(owner)
    assert client.get(f"/api/v1/node-tasks/{task.pk}").status_code == 200
    page = client.get(f"/clusters/{cluster.pk}/").content.decode()
    assert f'data-live-task="{task.pk}"' in page
    assert '<td class="task-node">gone</td>' in page


def test_a_nodes_page_names_its_node_for_the_live_client(owner: User, cluster: Cluster) -> None:
    node = cluster.nodes.get(name="n1")
    page = browser(owner).get(f"/clusters/nodes/{node.pk}/").content.decode()
    assert f'data-live-node-page="{node.pk}"' in page
    assert 'id="node-gone"' in page
    assert 'id="node-containers" data-refresh' in page
