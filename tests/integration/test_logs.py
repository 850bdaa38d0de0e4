"""Logs collected from every container (issue 15): each line once and in order, also when the collector's streams
broke in the middle (the watcher process killed and started again: it starts from each container's cursor), kept
after the container is gone, searched, downloaded, pruned by the tenant's retention, and refused clearly."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import docker
import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import operations as ram
from accounts.models import User
from apps.models import Application
from clusters.models import Cluster
from clusters.operations import register_node
from console.models import OperationLog
from observability import logs
from observability.models import LogLine
from tests import harness
from tests.conftest import PASSWORD, make_tenant
from tests.integration.conftest import wait_release

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

COUNT = 600
APP = f"""
services:
  counter:
    image: local/busybox:1
    init: true
    command: >-
      sh -c 'i=1; while [ $$i -le {COUNT} ]; do echo line-$$i; i=$$((i+1)); sleep 0.02; done;
      echo done >&2; sleep 600'
  named:
    image: local/busybox:1
    init: true
    command: sh -c 'echo hello from named; sleep 600'
    labels:
      aliyun.logs.applog: stdout
"""


def deploy(api: APIClient, cluster: Cluster, name: str, text: str) -> Application:
    made = api.post(f"/api/v1/clusters/{cluster.pk}/applications", {"name": name, "compose": text}, format="json")
    assert made.status_code == 202, made.content
    assert wait_release(made.json()["id"], 120).status == "successful"
    return Application.objects.get(cluster=cluster, name=name, deleted_at__isnull=True)


def texts(app: Application, container: str) -> list[str]:
    return list(
        LogLine.objects.filter(application=app, container=container)
        .order_by("ts_ns", "id")
        .values_list("text", flat=True)
    )


def test_every_line_is_kept_once_in_order_across_a_collector_restart_and_after_the_container_goes(
    api: APIClient, cluster: Cluster, stack: harness.Stack
) -> None:
    app = deploy(api, cluster, "logs", APP)
    harness.wait_until(lambda: len(texts(app, "logs_counter_1")) >= COUNT // 4, 30, 0.1, "a quarter of the lines")
    stack.procs["watcher"].stop(signal.SIGKILL)  # every stream breaks in the middle of the output
    stack.procs["watcher"] = harness.start_watcher()
    wanted = [f"line-{i}" for i in range(1, COUNT + 1)]
    harness.wait_until(lambda: len(texts(app, "logs_counter_1")) > COUNT, 60, 0.3, "every line")
    harness.wait_until(lambda: LogLine.objects.filter(application=app, text="done").exists(), 10, 0.2, "stderr")
    assert texts(app, "logs_counter_1") == [*wanted, "done"]  # once each, in order
    done = LogLine.objects.get(application=app, text="done")
    assert done.stream == "stderr" and done.service == "counter" and done.node_name == cluster.nodes.get().name
    named = LogLine.objects.get(application=app, container="logs_named_1")
    assert named.stream == "applog" and named.text == "hello from named"  # aliyun.logs.applog: stdout

    base = f"/api/v1/clusters/{cluster.pk}/applications/logs/logs"
    answer = api.get(base, {"container": "logs_counter_1", "limit": 500, "offset": 100})
    assert answer.status_code == 200, answer.content
    page = answer.json()
    assert page["count"] == COUNT + 1 and [r["text"] for r in page["results"]] == wanted[100:600]
    assert [r["text"] for r in api.get(base, {"q": "LINE-59", "limit": 50}).json()["results"]] == [
        "line-59",
        *[f"line-{i}" for i in range(590, 600)],
    ]
    assert [r["text"] for r in api.get(base, {"regex": "^line-(12|34)$"}).json()["results"]] == ["line-12", "line-34"]
    assert [r["text"] for r in api.get(base, {"stream": "stderr"}).json()["results"]] == ["done"]
    downloaded = api.get(f"{base}/download", {"container": "logs_counter_1", "q": "line-60"})
    body = b"".join(downloaded.streaming_content).decode()
    assert (
        downloaded.status_code == 200
        and body.count("\n") == 2
        and f" logs_counter_1@{cluster.nodes.get().name} stdout line-600\n" in body
    )

    # The container goes (the application is updated without it): its lines stay.
    updated = api.patch(
        f"/api/v1/clusters/{cluster.pk}/applications/logs", {"compose": APP.split("  named:")[0]}, format="json"
    )
    assert wait_release(updated.json()["id"], 120).status == "successful"
    assert LogLine.objects.filter(container="logs_named_1").count() == 1


def test_bad_searches_are_refused_with_a_clear_message_and_others_see_nothing(
    api: APIClient, cluster: Cluster, owner: User
) -> None:
    app = deploy(api, cluster, "quiet", "services:\n  box:\n    image: local/busybox:1\n    command: sleep 600\n")
    base = f"/api/v1/clusters/{cluster.pk}/applications/quiet/logs"
    for params, field, words in (
        ({"regex": "(a+)+$"}, "regex", "repetition inside a repetition"),
        ({"regex": "(x*)*y"}, "regex", "repetition inside a repetition"),
        ({"regex": "(a)\\1"}, "regex", "Not a regular expression a log search runs"),
        ({"regex": "(a|a)+$"}, "regex", "repetition inside a repetition"),
        ({"regex": "(?P<n>x)"}, "regex", "Named groups"),
        ({"regex": "[unclosed"}, "regex", "Not a regular expression"),
        ({"regex": "a" * 201}, "regex", "At most 200"),
        ({"since": "last tuesday"}, "since", "Not a time"),
        ({"since": "2026-12-02T10:00:00Z", "until": "2026-12-01T00:00:00Z"}, "until", "before its start"),
    ):
        refused = api.get(base, params)
        assert refused.status_code == 400, (params, refused.content)
        assert words in " ".join(refused.json()[field]), refused.json()
    web = Client()
    web.force_login(owner)
    page = web.get(f"/applications/{app.pk}/logs/", {"regex": "(a+)+$"})
    assert page.status_code == 400 and b"repetition inside a repetition" in page.content

    viewer = ram.create_subaccount(owner, name="viewer", password=PASSWORD)
    document = {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": "cs:Describe*", "Resource": "*"},
            {"Effect": "Deny", "Action": "cs:*", "Resource": [app.resource_name, f"{app.resource_name}/*"]},
        ],
    }
    ram.attach_policy(owner, ram.create_policy(owner, name="not-quiet", document=document), user=viewer)
    as_viewer, as_stranger = APIClient(), APIClient()
    as_viewer.force_authenticate(User.objects.get(pk=viewer.pk))
    as_stranger.force_authenticate(make_tenant("globex"))
    assert as_viewer.get(base).status_code == 404
    assert as_stranger.get(base).status_code == 404
    assert as_viewer.put("/api/v1/log-retention", {"days": 1, "megabytes": 1}, format="json").status_code == 403
    assert OperationLog.objects.filter(action="cs:ModifyLogRetention", outcome="denied", actor=viewer).exists()


def make_lines(app: Application, count: int, size: int, age: timedelta) -> None:
    at = timezone.now() - age
    nanos = int(at.timestamp() * 1e9)
    LogLine.objects.bulk_create(
        LogLine(
            cluster_id=app.cluster_id,
            application=app,
            node_name="n",
            service="s",
            container="c",
            stream="stdout",
            ts_ns=nanos + i,
            at=at,
            text=f"{i:08d}" + "x" * (size - 8),
        )
        for i in range(count)
    )


def test_retention_removes_what_is_older_or_more_than_the_tenant_keeps(
    api: APIClient, cluster: Cluster, owner: User
) -> None:
    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="kept", status="running")
    make_lines(app, 100, 100, timedelta(days=10))
    make_lines(app, 100, 100, timedelta(days=1))
    assert api.get("/api/v1/log-retention").json() == {"days": 7, "megabytes": 1024}
    assert logs.prune() == 100  # older than the default 7 days
    assert LogLine.objects.filter(application=app).count() == 100

    answer = api.put("/api/v1/log-retention", {"days": 2, "megabytes": 1}, format="json")
    assert answer.status_code == 200 and answer.json() == {"days": 2, "megabytes": 1}
    for bad in ({"days": 0, "megabytes": 1}, {"days": 1}, {"days": 1, "megabytes": 1, "hours": 3}):
        assert api.put("/api/v1/log-retention", bad, format="json").status_code == 400
    make_lines(app, 12_000, 100, timedelta(hours=1))  # 1.2 MB more than the 1 MB the tenant keeps
    logs.prune()
    left: Any = LogLine.objects.filter(application=app)
    size = sum(len(t) for t in left.values_list("text", flat=True))
    assert size <= 1024 * 1024 and left.count() >= 9_000
    newest = left.order_by("-ts_ns").first()
    assert newest is not None and newest.text.startswith("00011999")  # the oldest went first
    assert OperationLog.objects.filter(action="cs:ModifyLogRetention", outcome="success").count() == 1


FILES = """
services:
  writer:
    image: local/busybox:1
    init: true
    command: >-
      sh -c 'mkdir -p /var/log/app; i=1; while [ $$i -le 300 ]; do echo entry-$$i >> /var/log/app/app.log;
      i=$$((i+1)); sleep 0.02; done; echo other > /var/log/app/b.log; sleep 600'
    labels:
      aliyun.logs.applog: /var/log/app/*.log
"""


def test_files_a_label_names_are_collected_once_each_across_a_collector_restart(
    api: APIClient, cluster: Cluster, stack: harness.Stack
) -> None:
    app = deploy(api, cluster, "files", FILES)

    def kept(path_text: str) -> list[str]:
        rows = LogLine.objects.filter(application=app, stream="applog", text__startswith=path_text)
        return list(rows.order_by("ts_ns", "id").values_list("text", flat=True))

    harness.wait_until(lambda: len(kept("entry-")) >= 60, 40, 0.2, "a fifth of the file's lines")
    stack.procs["watcher"].stop(signal.SIGKILL)  # the tails break in the middle of the file
    stack.procs["watcher"] = harness.start_watcher()
    harness.wait_until(lambda: len(kept("entry-")) >= 300 and kept("other"), 60, 0.5, "every line of both files")
    assert kept("entry-") == [f"entry-{i}" for i in range(1, 301)]  # once each, in order
    assert kept("other") == ["other"]  # a file the glob matched later
    line = LogLine.objects.filter(application=app, stream="applog").first()
    assert line is not None and line.container == "files_writer_1" and line.service == "writer"


NODE_KILLED = """
services:
  n:
    image: local/busybox:1
    restart: always
    volumes: [counter:/data]
    command: >-
      sh -c 'i=$$(cat /data/n 2>/dev/null || echo 0); while [ $$i -lt 400 ]; do i=$$((i+1)); echo line-$$i;
      echo $$i > /data/n; sleep 0.05; done; sleep 600'
volumes:
  counter: {}
"""


@pytest.fixture
def far_node(services: None) -> Iterator[harness.NetnsNode]:
    node = harness.netns_node(161)
    try:
        yield node
    finally:
        node.stop_engine()


def test_a_node_killed_and_restarted_in_the_middle_loses_nothing_the_engine_kept(
    api: APIClient, owner: User, stack: harness.Stack, far_node: harness.NetnsNode
) -> None:
    cluster = Cluster.objects.create(tenant=owner.tenant, name="far")
    register_node(owner, cluster, name="far1", endpoint=far_node.endpoint, publish_ip=far_node.address)
    app = deploy(api, cluster, "count", NODE_KILLED)
    harness.wait_until(lambda: len(texts(app, "count_n_1")) >= 100, 60, 0.2, "a quarter of the lines")
    far_node.kill_engine()  # the collector's stream breaks; the node is away for a while
    time.sleep(3)
    far_node.start_engine()
    harness.wait_until(lambda: "line-400" in texts(app, "count_n_1"), 90, 0.5, "the last line after the restart")
    engine = docker.DockerClient(base_url=far_node.endpoint)
    try:
        kept_by_engine = engine.containers.get("count_n_1").logs().decode().split()
    finally:
        engine.close()
    assert texts(app, "count_n_1") == kept_by_engine  # every line the engine kept, once each, in its order
    numbers = [int(t.split("-")[1]) for t in kept_by_engine]
    assert numbers == sorted(numbers) and numbers[-1] == 400
    print(f"node killed mid-output: {len(numbers)} lines kept, numbers 1-400 lost {400 - len(set(numbers))}")  # noqa: T201
