"""Rolling releases on this machine's engine (issue 14): an update replaces running containers batch by batch as the
plan stored on the release says, each batch gated by the new containers' health; a batch that fails pauses the
release, or rolls the application back to the exact previous version, as the service asks; a release can be paused,
resumed and aborted; a worker killed in the middle is resumed without ever running more containers than the plan
allows. Traffic through the routers during a rolling update is ``test_rolling_routed``'s."""

from __future__ import annotations

import signal
import threading
import time

import docker
import pytest
from django.conf import settings
from rest_framework.test import APIClient

from apps import tasks
from apps.models import Application, Container, Release, ReleaseEvent
from clusters.models import Cluster
from console.models import OperationLog
from tests import harness
from tests.integration.conftest import berth_containers, wait_release

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def compose(version: str, *, scale: int = 4, health: str = "true", update: str = "", order: str = "start-first") -> str:
    """A service of ``scale`` sleeping containers whose environment says ``version``; its health check runs
    ``health`` every half second; ``update`` adds to its ``update_config``."""
    return f"""
services:
  web:
    image: local/busybox:1
    command: sleep 1d
    stop_grace_period: 1s
    environment:
      VERSION: "{version}"
    healthcheck:
      test: ["CMD-SHELL", "{health}"]
      interval: 500ms
      timeout: 2s
      retries: 2
    deploy:
      replicas: {scale}
      update_config:
        parallelism: 2
        order: {order}
        monitor: 500ms
{update}"""


def deploy(api: APIClient, cluster: Cluster, name: str, text: str) -> Application:
    made = api.post(f"/api/v1/clusters/{cluster.pk}/applications", {"name": name, "compose": text}, format="json")
    assert made.status_code == 202, made.content
    done = wait_release(made.json()["id"], timeout=120)
    assert done.status == "successful", done.error
    return Application.objects.get(pk=done.application_id)


def update(api: APIClient, app: Application, text: str) -> int:
    changed = api.patch(f"/api/v1/clusters/{app.cluster_id}/applications/{app.name}", {"compose": text}, format="json")
    assert changed.status_code == 202, changed.content
    return changed.json()["id"]


class Census:
    """Counts the application's running containers on the engine every 100 ms while a release runs: the most seen
    at once."""

    def __init__(self, engine: docker.DockerClient, app_id: int) -> None:
        self.engine, self.app_id = engine, app_id
        self.most = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        deadline = time.monotonic() + 180
        while not self.stop.is_set() and time.monotonic() < deadline:
            running = [c for c in berth_containers(self.engine, self.app_id) if c.status == "running"]
            self.most = max(self.most, len(running))
            time.sleep(0.1)

    def __enter__(self) -> Census:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)


def versions(engine: docker.DockerClient, app: Application) -> dict[str, str]:
    """Running container name → the VERSION it was made with."""
    found = {}
    for container in berth_containers(engine, app.pk):
        if container.status == "running":
            env = dict(e.split("=", 1) for e in container.attrs["Config"]["Env"] if "=" in e)
            found[container.name] = env.get("VERSION", "")
    return found


def test_an_update_replaces_every_container_in_the_planned_batches_new_first(
    api: APIClient, cluster: Cluster, engine: docker.DockerClient
) -> None:
    app = deploy(api, cluster, "roll", compose("1"))
    assert set(versions(engine, app).values()) == {"1"}
    with Census(engine, app.pk) as census:
        release = wait_release(update(api, app, compose("2")), timeout=120)
    assert release.status == "successful", release.error
    plan = release.params["plan"]
    assert [(s["service"], s["order"], s["batches"]) for s in plan] == [("web", "start-first", [[1, 2], [3, 4]])]
    assert census.most <= 4 + 2, census.most  # the scale plus one batch, never more
    running = versions(engine, app)
    assert running == {f"roll_web_{i}-1": "2" for i in range(1, 5)}, running
    rows = Container.objects.filter(service__application=app).order_by("index")
    assert [(r.index, r.generation, r.state) for r in rows] == [(i, 1, "running") for i in range(1, 5)]
    said = list(ReleaseEvent.objects.filter(release=release).values_list("message", flat=True))
    batches = [m for m in said if "batch" in m]
    assert batches == [
        "web: batch 1 of 2, start-first: replacing roll_web_1, roll_web_2.",
        "web: batch 2 of 2, start-first: replacing roll_web_3, roll_web_4.",
    ], said
    # Each old container goes only after its batch's new ones are healthy.
    first_healthy = said.index("roll_web_1-1, roll_web_2-1 healthy and in rotation.")
    assert said.index("roll_web_1 replaced by roll_web_1-1.") > first_healthy
    assert said.index("web: batch 2 of 2, start-first: replacing roll_web_3, roll_web_4.") > first_healthy

    # The next update replaces generation 1 by generation 2; stop-first never runs more than the scale.
    with Census(engine, app.pk) as census:
        release = wait_release(update(api, app, compose("3", order="stop-first")), timeout=120)
    assert release.status == "successful", release.error
    assert census.most <= 4, census.most
    assert versions(engine, app) == {f"roll_web_{i}-2": "3" for i in range(1, 5)}


def test_a_failing_health_check_rolls_back_to_the_exact_previous_version_when_asked(
    api: APIClient, cluster: Cluster, engine: docker.DockerClient
) -> None:
    app = deploy(api, cluster, "back", compose("1", update="        failure_action: rollback"))
    before = versions(engine, app)
    broken = compose("2", health="false", update="        failure_action: rollback")
    release = wait_release(update(api, app, broken), timeout=120)
    assert release.status == "failed"
    assert "roll" in release.error and "version 1" in release.error, release.error
    assert "health check fails" in release.error, release.error
    app.refresh_from_db()
    assert app.status == "running"
    assert app.version == 3  # 1, the broken 2, and 3: version 1 again
    assert app.versions.get(number=3).compose == app.versions.get(number=1).compose
    # The first batch never replaced anything (start-first): the very containers of version 1 still run.
    assert versions(engine, app) == before
    entry = OperationLog.objects.filter(action="cs:UpdateApplication", source="task").latest("id")
    assert entry.outcome == "failure" and "version 1" in entry.error


def test_a_failing_batch_pauses_until_the_user_resumes_or_aborts(
    api: APIClient, cluster: Cluster, engine: docker.DockerClient
) -> None:
    app = deploy(api, cluster, "hold", compose("1"))
    before = versions(engine, app)
    release_id = update(api, app, compose("2", health="false"))

    def paused() -> bool:
        return Release.objects.filter(pk=release_id, paused=True).exists()

    harness.wait_until(paused, 60, 0.2, "the release to pause after its failed batch")
    time.sleep(1)
    assert Release.objects.get(pk=release_id).status == "running"
    assert versions(engine, app) == before  # the old containers serve while it waits
    said = ReleaseEvent.objects.filter(release_id=release_id, level="warning").values_list("message", flat=True)
    assert any("batch 1 failed" in m and "health check fails" in m for m in said), list(said)

    # Resume tries the batch again (it fails again, and pauses again); abort ends it with the old containers.
    resumed = api.post(f"/api/v1/releases/{release_id}/resume")
    assert resumed.status_code == 200 and resumed.json()["paused"] is False, resumed.content
    harness.wait_until(
        lambda: ReleaseEvent.objects.filter(release_id=release_id, message="Resumed.").exists(), 30, 0.2, "resume"
    )
    harness.wait_until(paused, 60, 0.2, "the release to pause again")
    aborted = api.post(f"/api/v1/releases/{release_id}/cancel")
    assert aborted.status_code == 200, aborted.content
    ended = wait_release(release_id, timeout=60)
    assert ended.status == "canceled" and "rolled back to version 1" in ended.error, ended.error
    assert versions(engine, app) == before
    assert Container.objects.filter(service__application=app).count() == 4
    # What the application says it runs is what runs: version 1 again, and it is running, not failed.
    app.refresh_from_db()
    assert app.status == "running" and app.version == 3
    assert app.versions.get(number=3).note == "rolled back to v1 by request"
    assert app.services.get().spec["environment"] == {"VERSION": "1"}


def test_pause_and_resume_by_the_user_and_refusals(
    api: APIClient, cluster: Cluster, engine: docker.DockerClient
) -> None:
    app = deploy(api, cluster, "steps", compose("1", update="        delay: 3s"))
    release_id = update(api, app, compose("2", update="        delay: 3s"))
    harness.wait_until(
        lambda: ReleaseEvent.objects.filter(release_id=release_id, message__contains="batch 1 of 2").exists(),
        60,
        0.1,
        "the first batch",
    )
    paused = api.post(f"/api/v1/releases/{release_id}/pause")
    assert paused.status_code == 200 and paused.json()["paused"] is True, paused.content
    harness.wait_until(
        lambda: len(versions(engine, app)) == 4 and sorted(set(versions(engine, app).values())) == ["1", "2"],
        60,
        0.2,
        "the first batch to finish",
    )
    time.sleep(4)  # past the delay: the second batch waits for the resume
    assert sorted(versions(engine, app).values()) == ["1", "1", "2", "2"]
    assert api.post(f"/api/v1/releases/{release_id}/resume").status_code == 200
    assert wait_release(release_id, timeout=120).status == "successful"
    assert set(versions(engine, app).values()) == {"2"}
    logged = OperationLog.objects.filter(action="cs:ControlRelease").order_by("id")
    assert [e.parameters["paused"] for e in logged] == [True, False]

    finished = api.post(f"/api/v1/releases/{release_id}/pause")
    assert finished.status_code == 409 and "finished" in finished.content.decode()
    deployed = Release.objects.filter(application=app, kind="deploy").get()
    refused = api.post(f"/api/v1/releases/{deployed.pk}/pause")
    assert refused.status_code == 400 and "Only a rolling release" in refused.content.decode(), refused.content


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("parallelism: 0", "parallelism must be at least 1"),
        ("parallelism: 5", "parallelism is 5, more than the service's 4 container(s)"),
        ("delay: -1s", "delay"),
        ("max_failure_ratio: 2", "max_failure_ratio must be between 0 and 1"),
    ],
)
def test_bad_update_settings_are_refused_with_a_precise_message_and_change_nothing(
    api: APIClient, cluster: Cluster, setting: str, message: str
) -> None:
    text = compose("1").replace("        parallelism: 2\n", f"        {setting}\n")
    made = api.post(f"/api/v1/clusters/{cluster.pk}/applications", {"name": "bad", "compose": text}, format="json")
    assert made.status_code == 400, made.content
    assert message in made.content.decode(), made.content
    assert not Application.objects.filter(name="bad").exists()


KILL_QUEUE = "berth-test-kill-rolling"


def test_a_worker_killed_mid_update_is_resumed_and_never_runs_more_than_the_plan_allows(
    api: APIClient, cluster: Cluster, engine: docker.DockerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = deploy(api, cluster, "phoenix", compose("1", scale=6))
    victim = harness.start_worker("victim", queue=KILL_QUEUE)
    original = tasks.run_release.delay
    monkeypatch.setattr(
        tasks.run_release, "delay", lambda release_id: tasks.run_release.apply_async((release_id,), queue=KILL_QUEUE)
    )
    with Census(engine, app.pk) as census:
        try:
            release_id = update(api, app, compose("2", scale=6))
            harness.wait_until(
                lambda: Container.objects.filter(service__application=app, generation=1, state="running").exists(),
                60,
                0.05,
                "the first new container to run",
            )
            victim.stop(signal.SIGKILL)  # in the middle of batch 1: new containers beside their old ones
        finally:
            victim.stop(signal.SIGKILL)
            monkeypatch.setattr(tasks.run_release, "delay", original)
        assert Release.objects.get(pk=release_id).status == "running"
        monkeypatch.setattr(settings, "BERTH_REAPER_TIMEOUT", 0.5)
        harness.wait_until(lambda: tasks.reap_releases()["resumed"] == 1, 10, 0.3, "the reaper to resume it")
        done = wait_release(release_id, timeout=150)
    assert done.status == "successful", done.error
    assert done.attempts == 2
    assert census.most <= 6 + 2, census.most
    running = versions(engine, app)
    assert sorted(running.values()) == ["2"] * 6, running
    rows = Container.objects.filter(service__application=app)
    assert rows.count() == 6 and {r.index for r in rows} == set(range(1, 7))


def test_side_by_side_requests_that_cannot_run_are_refused_with_precise_messages(
    api: APIClient, cluster: Cluster
) -> None:
    app = deploy(api, cluster, "sides", compose("1", scale=2))
    url = f"/api/v1/clusters/{cluster.pk}/applications/sides"
    cases = [
        (
            {"strategy": "canary", "canary": {"steps": [10, 50]}},
            "canary.steps must end at 100 (the whole traffic), not at 50",
        ),
        ({"strategy": "canary", "canary": {"steps": [10, 150]}}, "canary.steps must each be between 1 and 100"),
        ({"strategy": "blue-green", "canary": {"steps": [100]}}, "canary settings go with the canary strategy"),
        ({"canary": {"steps": [100]}}, "Canary settings go with the canary strategy, not rolling."),
        (
            {"strategy": "blue-green"},
            "services.web: a blue-green release shares a route's traffic between the versions",
        ),
        ({"strategy": "sideways"}, "is not a valid choice"),
    ]
    for extra, message in cases:
        refused = api.patch(url, {"compose": compose("2", scale=2), **extra}, format="json")
        assert refused.status_code == 400 and message in refused.content.decode(), (extra, refused.content)
    scaled = api.patch(url, {"compose": compose("2", scale=3), "strategy": "blue-green"}, format="json")
    assert scaled.status_code == 400
    assert "changes what the containers run, not how many" in scaled.content.decode()
    assert Release.objects.filter(application=app).count() == 1  # nothing was started

    rolling = wait_release(update(api, app, compose("2", scale=2)), timeout=60)
    for verb in ("confirm", "rollback"):
        answer = api.post(f"/api/v1/releases/{rolling.pk}/{verb}")
        assert answer.status_code == 400, answer.content
        assert "Only a blue-green" in answer.content.decode() and "a rolling update" in answer.content.decode()
    weight = api.post(f"/api/v1/releases/{rolling.pk}/weight", {"weight": 50}, format="json")
    assert weight.status_code == 400 and "Only a blue-green release can do this" in weight.content.decode()
    refusals = OperationLog.objects.filter(action="cs:ControlRelease", outcome="failure")
    assert refusals.count() == 3
