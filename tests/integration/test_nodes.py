"""Clusters and nodes against real engines: mutual TLS, the attach script, the local provider, health,
drain under an application, failover, and the faults around them."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import User
from apps import tasks as app_tasks  # noqa: F401 - the worker runs them; imported for the reaper's queue
from apps.models import Container
from apps.operations import ImageAppSpec, deploy_application
from clusters import attach, hostaccess, pki
from clusters import operations as ops
from clusters.authority import cluster_ca
from clusters.models import AttachToken, Cluster, Node, NodeTask
from console.models import OperationLog
from tests import harness
from tests.conftest import ours
from tests.integration.conftest import wait_release

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def wait_task(task_id: int, timeout: float = 120) -> NodeTask:
    def done() -> NodeTask | None:
        task = NodeTask.objects.get(pk=task_id)
        return task if task.status in NodeTask.TERMINAL else None

    return harness.wait_until(done, timeout, 0.2, f"node task {task_id}")


def tls_dir_for(cluster: Cluster, address: str, folder: Path) -> str:
    """Server certificate of a node at ``address``, issued by the cluster's CA, as netns-node.sh wants it."""
    ca = cluster_ca(cluster)
    server = pki.issue_server(ca, common_name=address, ips=[address])
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("ca.pem", ca.cert_pem), ("cert.pem", server.cert_pem), ("key.pem", server.key_pem)):
        (folder / name).write_text(text)
    return str(folder)


def client_material(cluster: Cluster) -> dict[str, str]:
    """What a user uploads to register a TLS node: the CA, a client certificate and its key."""
    ca = cluster_ca(cluster)
    client = pki.issue_client(ca, common_name="uploader")
    return {"ca": ca.cert_pem, "cert": client.cert_pem, "key": client.key_pem}


def on_engine(node: harness.NetnsNode | str, app_id: int) -> list:
    url = node if isinstance(node, str) else node.socket
    client = docker.DockerClient(base_url=url)
    try:  # sparse: no inspect per container, so a container removed meanwhile cannot fail the listing
        return client.containers.list(sparse=True, filters={**ours(application=app_id), "status": ["running"]})
    finally:
        client.close()


@pytest.fixture
def cluster(stack: harness.Stack, owner: User) -> Cluster:
    return ops.create_cluster(owner, name="prod", zones=["a", "b"])


@pytest.fixture
def tls_nodes(cluster: Cluster, tmp_path: Path) -> Iterator[list[harness.NetnsNode]]:
    made = []
    try:
        for number in (21, 22):
            address = f"10.250.{number}.2"
            made.append(harness.netns_node(number, tls_dir_for(cluster, address, tmp_path / f"n{number}")))
        yield made
    finally:
        for node in made:
            node.stop_engine()


def register(api: APIClient, cluster: Cluster, node: harness.NetnsNode, name: str, zone: str = "") -> dict:
    response = api.post(
        f"/api/v1/clusters/{cluster.pk}/nodes",
        {
            "name": name,
            "endpoint": node.endpoint,
            "publish_ip": node.address,
            "zone": zone,
            "tls": client_material(cluster),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_cluster_crud_and_refusals(api: APIClient, stack: harness.Stack, owner: User) -> None:
    made = api.post(
        "/api/v1/clusters",
        {
            "name": "web",
            "region": "eu-1",
            "zones": ["a"],
            "root_domain": "apps.example.com",
            "system_services": {"routing": True, "logging": False},
        },
        format="json",
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["zones"] == ["a"] and body["nodes_total"] == 0
    assert Cluster.objects.get(pk=body["id"]).ca_cert.startswith("-----BEGIN CERTIFICATE-----")
    assert api.post("/api/v1/clusters", {"name": "web"}, format="json").status_code == 400
    assert api.post("/api/v1/clusters", {"name": "Bad Name"}, format="json").status_code == 400
    assert api.post("/api/v1/clusters", {"name": "x1", "network_mode": "pigeon"}, format="json").status_code == 400
    renamed = api.patch(f"/api/v1/clusters/{body['id']}", {"name": "www"}, format="json")
    assert renamed.json()["name"] == "www"
    bundle = api.get(f"/api/v1/clusters/{body['id']}/certs")
    assert bundle.status_code == 200 and bundle["Content-Type"] == "application/zip"
    assert api.delete(f"/api/v1/clusters/{body['id']}").status_code == 204
    assert not Cluster.objects.filter(pk=body["id"]).exists()


def test_register_over_mutual_tls_and_refusals(
    api: APIClient, cluster: Cluster, tls_nodes: list[harness.NetnsNode], tmp_path: Path
) -> None:
    node = register(api, cluster, tls_nodes[0], "n21", zone="a")
    assert node["state"] == "ready" and node["tls"] is True and node["info"]["engine_version"]
    row = Node.objects.get(pk=node["id"])
    assert "PRIVATE KEY" not in row.tls_key_sealed and row.tls_key_sealed
    assert "key" not in str(api.get(f"/api/v1/clusters/{cluster.pk}/nodes/n21").json()).lower().replace("key_", "")

    other = tls_nodes[1]
    # Material from another CA: the engine's certificate does not verify, and the engine refuses ours.
    stranger_ca = pki.new_ca("someone else")
    stranger_client = pki.issue_client(stranger_ca, common_name="x")
    bad = api.post(
        f"/api/v1/clusters/{cluster.pk}/nodes",
        {
            "name": "n22",
            "endpoint": other.endpoint,
            "publish_ip": other.address,
            "tls": {"ca": stranger_ca.cert_pem, "cert": stranger_client.cert_pem, "key": stranger_client.key_pem},
        },
        format="json",
    )
    assert bad.status_code == 400 and "refused" in bad.json()["endpoint"][0]
    mismatched = client_material(cluster)
    mismatched["key"] = pki.issue_client(cluster_ca(cluster), common_name="y").key_pem
    response = api.post(
        f"/api/v1/clusters/{cluster.pk}/nodes",
        {"name": "n22", "endpoint": other.endpoint, "publish_ip": other.address, "tls": mismatched},
        format="json",
    )
    assert response.status_code == 400 and "does not match" in response.json()["tls"][0]
    plain = api.post(
        f"/api/v1/clusters/{cluster.pk}/nodes",
        {"name": "n22", "endpoint": other.endpoint, "publish_ip": other.address},
        format="json",
    )
    assert plain.status_code == 400
    duplicate = api.post(
        f"/api/v1/clusters/{cluster.pk}/nodes",
        {
            "name": "again",
            "endpoint": tls_nodes[0].endpoint,
            "publish_ip": tls_nodes[0].address,
            "tls": client_material(cluster),
        },
        format="json",
    )
    assert duplicate.status_code == 400 and "already a node" in duplicate.json()["endpoint"][0]
    assert not Node.objects.filter(name__in=["n22", "again"]).exists()
    assert OperationLog.objects.filter(action="cs:AddClusterNodes", outcome="failure").count() >= 1

    patched = api.patch(
        f"/api/v1/clusters/{cluster.pk}/nodes/n21", {"labels": {"disk": "ssd"}, "zone": "b"}, format="json"
    )
    assert patched.json()["labels"] == {"disk": "ssd"} and patched.json()["zone"] == "b"
    assert api.patch(f"/api/v1/clusters/{cluster.pk}/nodes/n21", {"zone": "mars"}, format="json").status_code == 400
    assert (
        api.patch(f"/api/v1/clusters/{cluster.pk}/nodes/n21", {"labels": {"Bad Key": "x"}}, format="json").status_code
        == 400
    )


def test_a_slow_node_never_blocks_the_others(cluster: Cluster, owner: User, settings: object) -> None:
    from clusters import health

    settings.BERTH_NODE_NETWORKS_ALLOW = ["127.0.0.1/32"]  # the slow "node" listens on loopback

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections, never answers
    port = listener.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    threading.Thread(target=hold, daemon=True).start()
    try:
        local = ops.ensure_local_cluster(owner.tenant)
        good = local.nodes.get()
        Node.objects.create(
            cluster=cluster,
            name="sleepy",
            endpoint=f"tcp://127.0.0.1:{port}",
            publish_ip="127.0.0.1",
            state=Node.State.READY,
        )
        started = time.monotonic()
        result = health.check_all()
        elapsed = time.monotonic() - started
        assert elapsed < settings.BERTH_HEALTH_TIMEOUT + 2.5
        assert result["checked"] >= 2
        good.refresh_from_db()
        assert good.failures == 0 and good.state == Node.State.READY
        assert Node.objects.get(name="sleepy").failures >= 1
    finally:
        stop.set()
        listener.close()
        for conn in held:
            conn.close()


def test_attach_script_end_to_end(api: APIClient, stack: harness.Stack, cluster: Cluster, tmp_path: Path) -> None:
    number = 23
    address = harness.run_script("netns-node.sh", "ns", str(number))
    try:
        made = api.post(f"/api/v1/clusters/{cluster.pk}/attach-command", {"console_url": stack.url}, format="json")
        assert made.status_code == 201
        command = made.json()["command"]
        assert command.startswith(f"curl -fsSL '{stack.url}/api/v1/attach/") and command.endswith("| sudo sh")
        script_url = command.split("'")[1]
        token = script_url.rsplit("/", 2)[1]
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "BERTH_NODE_ADDRESS": address,
            "BERTH_NODE_NAME": "attached",
            "BERTH_CERT_DIR": str(tmp_path / "certs"),
            "BERTH_DOCKERD_CMD": harness.run_script("netns-node.sh", "dockerd-cmd", str(number)),
        }
        result = subprocess.run(
            ["sh", "-c", f"curl -fsSL '{script_url}' | sh"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "[4/4]" in result.stdout and "registered node attached" in result.stdout
        node = Node.objects.get(cluster=cluster, name="attached")
        assert node.state == Node.State.READY and node.uses_tls and node.provider == "attach"
        assert node.endpoint == f"tcp://{address}:2376"
        assert AttachToken.objects.get(node=node).used_at is not None
        # Used once: the same command is refused now.
        again = subprocess.run(
            ["sh", "-c", f"curl -fsS '{script_url}'"], env=env, capture_output=True, text=True, timeout=30, check=False
        )
        assert again.returncode != 0
        assert "already been used" in api.get(f"/api/v1/attach/{token}/script").content.decode()
        # An expired token is refused too.
        late = attach.attach_command(User.objects.get(is_primary=True, tenant=cluster.tenant), cluster)
        AttachToken.objects.filter(used_at__isnull=True).update(expires_at="2000-01-01T00:00:00Z")
        assert "expired" in APIClient().get(f"/api/v1/attach/{late['token']}/script").content.decode()
        # The engine only talks to clients of the cluster's CA.
        with pytest.raises(docker.errors.DockerException):
            docker.DockerClient(base_url=f"tcp://{address}:2376", timeout=5).version()
    finally:
        harness.run_script("netns-node.sh", "down", str(number))


def test_local_provider_makes_a_tls_node_that_runs_apps(api: APIClient, cluster: Cluster) -> None:
    hostaccess.grant(cluster.tenant)  # engines started on this machine: the operator's grant
    response = api.post(
        f"/api/v1/clusters/{cluster.pk}/nodes", {"name": "fresh", "provider": "local", "zone": "a"}, format="json"
    )
    assert response.status_code == 202, response.content
    task = wait_task(response.json()["id"])
    assert task.status == "successful", task.error
    node = Node.objects.get(cluster=cluster, name="fresh")
    try:
        assert node.state == Node.State.READY and node.uses_tls and node.endpoint.endswith(":2376")
        owner = User.objects.get(tenant=cluster.tenant, is_primary=True)
        release = deploy_application(
            owner, cluster, ImageAppSpec(name="onfresh", image="local/busybox:1", command="sleep 3600", scale=1)
        )
        done = wait_release(release.pk)
        assert done.status == "successful", done.error
        assert Container.objects.get(service__application_id=release.application_id).node == node
        removal = wait_task(api.delete(f"/api/v1/clusters/{cluster.pk}/nodes/fresh?drain=false").json()["id"])
        assert removal.status == "successful", removal.error
        assert not Path(f"/run/netns/berth-n{node.provider_ref}").exists()
    finally:
        harness.run_script("netns-node.sh", "down", node.provider_ref)


@pytest.fixture
def three_nodes(stack: harness.Stack, owner: User, tmp_path: Path) -> Iterator[tuple[Cluster, list]]:
    """The local engine plus two TLS netns nodes, in one cluster."""
    cluster = ops.ensure_local_cluster(owner.tenant)
    made = []
    try:
        for number in (24, 25):
            address = f"10.250.{number}.2"
            made.append(harness.netns_node(number, tls_dir_for(cluster, address, tmp_path / f"n{number}")))
            ops.register_node(
                owner,
                cluster,
                name=f"n{number}",
                endpoint=made[-1].endpoint,
                publish_ip=address,
                **{f"tls_{k}": v for k, v in client_material(cluster).items()},
            )
        yield cluster, made
    finally:
        for node in made:
            node.stop_engine()


def test_drain_under_an_app_of_scale_4(api: APIClient, owner: User, three_nodes: tuple[Cluster, list]) -> None:
    cluster, netns = three_nodes
    release = deploy_application(
        owner,
        cluster,
        ImageAppSpec(
            name="drainme", image="local/busybox:1", command="httpd -f -p 80 -h /www", scale=4, container_port=80
        ),
    )
    assert wait_release(release.pk).status == "successful"
    app_id = release.application_id
    victim = Node.objects.get(cluster=cluster, name="n24")
    before = Container.objects.filter(service__application_id=app_id, node=victim).count()
    assert before >= 1

    response = api.delete(f"/api/v1/clusters/{cluster.pk}/nodes/n24?drain=true")
    assert response.status_code == 202, response.content
    task = wait_task(response.json()["id"])
    assert task.status == "successful", task.error
    rows = list(Container.objects.filter(service__application_id=app_id).select_related("node"))
    assert len(rows) == 4 and victim.pk not in {c.node_id for c in rows}
    assert on_engine(netns[0], app_id) == []
    running = len(on_engine(settings.BERTH_LOCAL_DOCKER_URL, app_id)) + len(on_engine(netns[1], app_id))
    assert running == 4
    victim.refresh_from_db()
    assert victim.state == Node.State.REMOVED
    steps = OperationLog.objects.filter(action="cs:MigrateContainer", outcome="success")
    assert steps.count() == before and {e.parameters["from"] for e in steps} == {"n24"}
    assert OperationLog.objects.filter(action="cs:RemoveClusterNodes", outcome="success").exists()
    assert api.get(f"/api/v1/clusters/{cluster.pk}/nodes/n24").status_code == 404


def test_drain_is_refused_when_the_others_cannot_hold_the_containers(
    api: APIClient, owner: User, three_nodes: tuple[Cluster, list]
) -> None:
    cluster, _netns = three_nodes
    release = deploy_application(
        owner,
        cluster,
        ImageAppSpec(
            name="pinned",
            image="local/busybox:1",
            command="httpd -f -p 80 -h /www",
            scale=3,
            container_port=80,
            host_port=18555,
        ),
    )
    assert wait_release(release.pk).status == "successful"
    response = api.delete(f"/api/v1/clusters/{cluster.pk}/nodes/n25?drain=true")
    assert response.status_code == 400
    assert "18555" in response.json()["detail"] and "cannot hold" in response.json()["detail"]
    assert not NodeTask.objects.filter(kind="drain").exists()
    assert Node.objects.get(name="n25").state == Node.State.READY


def test_killed_worker_mid_drain_resumes_without_losing_or_duplicating(
    owner: User, three_nodes: tuple[Cluster, list], monkeypatch: pytest.MonkeyPatch
) -> None:
    from clusters import tasks as node_tasks

    cluster, netns = three_nodes
    release = deploy_application(
        owner, cluster, ImageAppSpec(name="resume", image="local/busybox:1", command="sleep 3600", scale=6)
    )
    assert wait_release(release.pk).status == "successful"
    app_id = release.application_id
    victim_node = Node.objects.get(name="n24")
    victim = harness.start_worker("drain-victim", queue="berth-test-drain")
    monkeypatch.setattr(
        node_tasks.run_node_task,
        "delay",
        lambda task_id: node_tasks.run_node_task.apply_async((task_id,), queue="berth-test-drain"),
    )
    try:
        task = ops.remove_node(owner, victim_node, drain=True)
        harness.wait_until(lambda: NodeTask.objects.get(pk=task.pk).progress_done >= 1, 60, 0.02, "first move")
        victim.stop(signal.SIGKILL)
    finally:
        victim.stop(signal.SIGKILL)
    monkeypatch.undo()
    monkeypatch.setattr(settings, "BERTH_REAPER_TIMEOUT", 0.5)
    harness.wait_until(lambda: node_tasks.reap_node_tasks()["resumed"] == 1, 10, 0.3, "the reaper to resume")
    done = wait_task(task.pk)
    assert done.status == "successful", done.error
    rows = Container.objects.filter(service__application_id=app_id)
    assert rows.count() == 6 and not rows.filter(node=victim_node).exists()
    running = on_engine(settings.BERTH_LOCAL_DOCKER_URL, app_id) + on_engine(netns[1], app_id)
    assert sorted(c.attrs["Names"][0].lstrip("/") for c in running) == [f"resume_resume_{i}" for i in range(1, 7)]
    assert on_engine(netns[0], app_id) == []


def test_dead_node_turns_unreachable_fails_over_and_cleans_up_on_return(
    owner: User, three_nodes: tuple[Cluster, list]
) -> None:
    from apps.models import Service

    cluster, netns = three_nodes
    release = deploy_application(
        owner, cluster, ImageAppSpec(name="ha", image="local/busybox:1", command="sleep 3600", scale=3)
    )
    assert wait_release(release.pk).status == "successful"
    Service.objects.filter(application_id=release.application_id).update(reschedule_on_node_failure=True)
    app_id = release.application_id
    dying = Node.objects.get(name="n24")
    assert Container.objects.filter(service__application_id=app_id, node=dying).exists()

    started = time.monotonic()
    netns[0].kill_engine()
    harness.wait_until(lambda: Node.objects.get(pk=dying.pk).state == Node.State.UNREACHABLE, 10, 0.2, "unreachable")
    assert time.monotonic() - started < 10
    assert OperationLog.objects.filter(action="cs:NodeUnreachable", target="n24", source="system").exists()
    failover = harness.wait_until(
        lambda: NodeTask.objects.filter(kind="failover", status="successful").first(), 60, 0.3, "failover"
    )
    assert failover.node_id == dying.pk
    assert not Container.objects.filter(service__application_id=app_id, node=dying).exists()
    assert len(on_engine(settings.BERTH_LOCAL_DOCKER_URL, app_id)) + len(on_engine(netns[1], app_id)) == 3

    netns[0].start_engine()
    harness.wait_until(lambda: Node.objects.get(pk=dying.pk).state == Node.State.READY, 20, 0.2, "ready again")
    # Its stale copies are gone: never more containers than the desired scale.
    harness.wait_until(
        lambda: (
            not docker.DockerClient(base_url=netns[0].socket).containers.list(
                all=True, filters=ours(application=app_id), ignore_removed=True
            )
        ),
        20,
        0.3,
        "stale copies removed",
    )
    total = len(on_engine(settings.BERTH_LOCAL_DOCKER_URL, app_id)) + len(on_engine(netns[1], app_id))
    assert total == 3
    assert OperationLog.objects.filter(action="cs:NodeReady", target="n24").exists()


def test_node_dying_mid_drain_fails_cleanly_and_loses_nothing(
    owner: User, three_nodes: tuple[Cluster, list], monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps import nodework as container_moves
    from clusters import nodework

    cluster, netns = three_nodes
    release = deploy_application(
        owner, cluster, ImageAppSpec(name="fragile", image="local/busybox:1", command="sleep 3600", scale=6)
    )
    assert wait_release(release.pk).status == "successful"
    app_id = release.application_id
    draining = Node.objects.get(name="n24")
    on_it = Container.objects.filter(service__application_id=app_id, node=draining).count()
    assert on_it >= 2
    # The engine dies right after the first container has moved (run in this process to time it exactly).
    original = container_moves.move_container
    moved: list[str] = []

    def move_then_die(container: Container, target: Node, *, remove_old: bool = True) -> str:
        result = original(container, target, remove_old=remove_old)
        moved.append(container.name)
        if len(moved) == 1:
            netns[0].kill_engine()
        return result

    from clusters import tasks as node_tasks

    monkeypatch.setattr(container_moves, "move_container", move_then_die)
    monkeypatch.setattr(node_tasks.run_node_task, "delay", lambda task_id: None)  # this process runs it
    task = ops.remove_node(owner, draining, drain=True)
    final = nodework.execute(task.pk)
    done = NodeTask.objects.get(pk=task.pk)
    assert final == "failed" and "stopped answering" in done.error
    rows = Container.objects.filter(service__application_id=app_id)
    assert rows.count() == 6 and not rows.filter(node=draining).exists()
    assert len(on_engine(settings.BERTH_LOCAL_DOCKER_URL, app_id)) + len(on_engine(netns[1], app_id)) == 6
    assert Node.objects.get(pk=draining.pk).state != Node.State.REMOVED

    netns[0].start_engine()  # when it answers again, its stale copies go: never more than the scale
    harness.wait_until(lambda: Node.objects.get(pk=draining.pk).state == Node.State.READY, 20, 0.2, "ready")
    harness.wait_until(
        lambda: (
            not docker.DockerClient(base_url=netns[0].socket).containers.list(
                all=True, filters=ours(application=app_id), ignore_removed=True
            )
        ),
        20,
        0.3,
        "stale copies removed",
    )
