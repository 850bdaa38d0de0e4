"""Deploy, stop, start, restart and delete through the API: Celery drives the real local engine."""

from __future__ import annotations

import socket
import urllib.request

import docker
import pytest
from rest_framework.test import APIClient

from apps.models import Application, Container, Release
from clusters.models import Cluster, Node
from console.models import OperationLog
from tests.harness import wait_until
from tests.integration.conftest import berth_containers, wait_release

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

HTTPD = "httpd -f -p 80 -h /www"


def deploy(api: APIClient, cluster: Cluster, **body: object) -> Release:
    body = {"image": "local/busybox:1", "command": HTTPD, "container_port": 80, **body}
    response = api.post(f"/api/v1/clusters/{cluster.pk}/applications", body, format="json")
    assert response.status_code == 202, response.content
    return wait_release(response.json()["id"])


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - 127.0.0.1 only
        return response.read().decode()


def test_full_lifecycle_through_the_api(api: APIClient, cluster: Cluster, engine: docker.DockerClient) -> None:
    release = deploy(api, cluster, name="life", scale=2, environment={"GREETING": "hi"})
    assert release.status == "successful", release.error
    assert (release.progress_done, release.progress_total) == (2, 2)
    app = Application.objects.get(name="life")
    assert app.status == "running"

    detail = api.get(f"/api/v1/clusters/{cluster.pk}/applications/life").json()
    containers = detail["services"][0]["containers"]
    assert [c["name"] for c in containers] == ["life_life_1", "life_life_2"]
    for c in containers:
        assert c["state"] == "running" and c["address"].startswith("127.0.0.1:")
        assert "hello from berth" in get(f"http://{c['address']}/")

    on_engine = {c.name: c for c in berth_containers(engine, app.pk)}
    assert set(on_engine) == {"life_life_1", "life_life_2"}
    labels = on_engine["life_life_2"].labels
    assert labels["com.docker.compose.project"] == "life"
    assert labels["com.docker.compose.service"] == "life"
    assert labels["com.docker.compose.container-number"] == "2"
    assert labels["berth.tenant"] == str(app.tenant_id) and labels["berth.cluster"] == str(cluster.pk)
    assert labels["berth.release"] == str(release.pk) and labels["berth.replica"] == "2"
    assert "GREETING=hi" in on_engine["life_life_1"].attrs["Config"]["Env"]
    assert engine.networks.list(names=["life_default"])

    base = f"/api/v1/clusters/{cluster.pk}/applications/life"
    stopped = wait_release(api.post(f"{base}/stop").json()["id"])
    assert stopped.status == "successful", stopped.error
    assert {c.status for c in berth_containers(engine, app.pk)} == {"exited"}
    assert Application.objects.get(pk=app.pk).status == "stopped"

    started = wait_release(api.post(f"{base}/start").json()["id"])
    assert started.status == "successful", started.error
    assert {c.status for c in berth_containers(engine, app.pk)} == {"running"}

    restarted = wait_release(api.post(f"{base}/restart").json()["id"])
    assert restarted.status == "successful", restarted.error

    polled = api.get(f"/api/v1/releases/{restarted.pk}").json()
    assert polled["status"] == "successful" and polled["percent"] == 100 and polled["kind"] == "restart"

    deleted = wait_release(api.delete(base).json()["id"])
    assert deleted.status == "successful", deleted.error
    assert berth_containers(engine, app.pk) == []
    assert engine.networks.list(names=["life_default"]) == []
    assert api.get(base).status_code == 404
    assert not Container.objects.filter(service__application=app).exists()

    logged = list(OperationLog.objects.filter(target="life").order_by("seq").values_list("action", "outcome", "source"))
    assert logged == [
        ("cs:CreateApplication", "accepted", "api"),
        ("cs:CreateApplication", "success", "task"),
        ("cs:StopApplication", "accepted", "api"),
        ("cs:StopApplication", "success", "task"),
        ("cs:StartApplication", "accepted", "api"),
        ("cs:StartApplication", "success", "task"),
        ("cs:RestartApplication", "accepted", "api"),
        ("cs:RestartApplication", "success", "task"),
        ("cs:DeleteApplication", "accepted", "api"),
        ("cs:DeleteApplication", "success", "task"),
    ]
    # The task's entry carries the request id and actor of the request that queued it.
    accepted, done = OperationLog.objects.filter(target="life", action="cs:CreateApplication").order_by("seq")
    assert accepted.request_id and accepted.request_id == done.request_id
    assert done.actor_name == accepted.actor_name == "admin@acme"


def test_unknown_image_is_refused_up_front_with_the_reason_and_leaves_nothing(
    api: APIClient, cluster: Cluster, engine: docker.DockerClient
) -> None:
    """The real engine lacks the image and no registry answers for it: the API refuses with 400 before anything is
    made (it answered 202, then a failed release), and its plan says the same (issue 11)."""
    body = {"name": "noimage", "image": "local/does-not-exist:1", "scale": 2}
    url = f"/api/v1/clusters/{cluster.pk}/applications"
    for query in ("?dry_run=true", ""):
        response = api.post(url + query, body, format="json")
        assert response.status_code == 400, response.content
        [message] = response.json()["image"]
        assert message.startswith("local/does-not-exist:1 is not on ") and "cannot be pulled" in message
    assert not Application.objects.filter(name="noimage").exists()
    assert engine.networks.list(names=["noimage_default"]) == []
    entry = OperationLog.objects.get(target="noimage")  # the request, not its plan
    assert entry.outcome == "failure" and entry.source == "api" and "local/does-not-exist:1" in entry.error


def test_taken_host_port_fails_and_removes_created_containers(
    api: APIClient, cluster: Cluster, engine: docker.DockerClient
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        release = deploy(api, cluster, name="porttaken", scale=1, host_port=port)
    assert release.status == "failed"
    assert "porttaken_porttaken_1" in release.error
    assert "address already in use" in release.error or "already allocated" in release.error
    app = Application.objects.get(name="porttaken")
    assert berth_containers(engine, app.pk) == []
    assert OperationLog.objects.get(target="porttaken", source="task").outcome == "failure"


def test_fixed_host_port_with_more_containers_than_nodes_names_the_rule(api: APIClient, cluster: Cluster) -> None:
    """Placement is checked with the plan, before anything is made (issue 11): a 400 naming the rule."""
    body = {"name": "twoonport", "image": "local/busybox:1", "command": HTTPD, "container_port": 80}
    response = api.post(
        f"/api/v1/clusters/{cluster.pk}/applications", {**body, "scale": 2, "host_port": 18999}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "18999" in str(response.json()) and "once per node" in str(response.json())
    assert not Application.objects.filter(name="twoonport").exists()


def test_unreachable_engine_fails_cleanly(api: APIClient, cluster: Cluster) -> None:
    dead = Cluster.objects.create(tenant=cluster.tenant, name="dead")
    Node.objects.create(  # an identified engine of this machine (the tenant holds the grant) that has gone away
        cluster=dead,
        name="gone",
        endpoint="unix:///run/berth-test-gone/docker.sock",
        publish_ip="127.0.0.1",
        state=Node.State.READY,
        engine_id="ENGINE-THAT-WAS-HERE",
    )
    release = deploy(api, dead, name="nowhere", scale=1)
    assert release.status == "failed"
    assert "did not answer" in release.error
    assert not Container.objects.filter(service__application__name="nowhere").exists()


def test_watcher_shows_a_container_stopped_outside_berth(
    api: APIClient, cluster: Cluster, engine: docker.DockerClient
) -> None:
    release = deploy(api, cluster, name="outside", scale=1)
    assert release.status == "successful", release.error
    engine.containers.get("outside_outside_1").stop(timeout=1)
    row = Container.objects.get(name="outside_outside_1")
    wait_until(lambda: Container.objects.get(pk=row.pk).state == "exited", 10, 0.1, "the watcher to see the stop")
    api.delete(f"/api/v1/clusters/{cluster.pk}/applications/outside")
    wait_until(lambda: not berth_containers(engine, release.application_id), 30, 0.2, "delete")


def test_single_container_actions_logs_and_inspect(
    api: APIClient, cluster: Cluster, engine: docker.DockerClient
) -> None:
    release = deploy(
        api,
        cluster,
        name="chatty",
        scale=2,
        command="sh -c 'echo started; exec httpd -f -p 80 -h /www'",
        environment={"TOKEN": "s3cr3t"},
    )
    assert release.status == "successful", release.error
    base = f"/api/v1/clusters/{cluster.pk}/applications/chatty/containers/chatty_chatty_1"
    wait_until(lambda: "started" in api.get(base + "/logs").content.decode(), 10, 0.2, "logs")
    inspected = api.get(base).json()
    assert inspected["inspect"]["Name"] == "/chatty_chatty_1"
    # Environment values: to who may change the application (the owner here), as apps.disclosure says.
    assert "TOKEN=s3cr3t" in inspected["inspect"]["Config"]["Env"]
    restarted = wait_release(api.post(base + "/restart").json()["id"])
    assert restarted.status == "successful", restarted.error
    stopped = wait_release(api.post(base + "/stop").json()["id"])
    assert stopped.status == "successful", stopped.error
    assert engine.containers.get("chatty_chatty_1").status == "exited"
    removed = wait_release(api.post(base + "/remove").json()["id"])
    assert removed.status == "successful", removed.error
    assert api.get(base).status_code == 404
    assert [c.name for c in berth_containers(engine, release.application_id)] == ["chatty_chatty_2"]
    assert api.post(f"/api/v1/clusters/{cluster.pk}/applications/chatty/containers/nope/restart").status_code == 404
