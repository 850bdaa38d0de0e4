"""A removed local-provider node leaves nothing behind (issue 10, item 9): no process, namespace, mount or data
directory, also when the worker is stopped with Ctrl-C in the middle of the removal; a Ctrl-C of whoever started
a node's engine never stops it; and the cluster page keeps answering after a drain and remove (issue 10, N4).

Netns node 65, and local-provider nodes (100-200, the provider picks)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest
from django.conf import settings
from django.test import Client

from accounts.models import User
from clusters import hostaccess
from clusters import operations as ops
from clusters import tasks as node_tasks
from clusters.models import Cluster, Node, NodeTask
from tests import harness

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def wait_task(task_id: int, timeout: float = 120) -> NodeTask:
    def done() -> NodeTask | None:
        task = NodeTask.objects.get(pk=task_id)
        return task if task.status in NodeTask.TERMINAL else None

    return harness.wait_until(done, timeout, 0.2, f"node task {task_id}")


def remains_of(number: str) -> list[str]:
    """What is left on this machine of netns node ``number``: processes, namespace, mounts, data directories."""
    found = []
    listing = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    found += [
        line
        for line in listing.splitlines()
        if (f"berth-node-{number}/" in line or f"-namespace berth-n{number} " in line) and "netns-node.sh" not in line
    ]
    if Path(f"/run/netns/berth-n{number}").exists():
        found.append(f"namespace berth-n{number}")
    mounts = Path("/proc/mounts").read_text()
    found += [
        line for line in mounts.splitlines() if f"berth-node-{number}/" in line or f"berth-node-{number} " in line
    ]
    for folder in (f"/var/lib/berth-node-{number}", f"/run/berth-node-{number}"):
        if Path(folder).exists():
            found.append(folder)
    return found


@pytest.fixture
def cluster(stack: harness.Stack, owner: User) -> Cluster:
    made = ops.create_cluster(owner, name="prov")
    hostaccess.grant(owner.tenant, note="local provider test")
    return made


def provision(owner: User, cluster: Cluster, name: str) -> Node:
    task = wait_task(ops.provision_node(owner, cluster, name=name, provider="local").pk)
    assert task.status == "successful", task.error
    return Node.objects.get(cluster=cluster, name=name)


def test_drain_and_remove_in_the_console_leaves_nothing_and_the_pages_still_answer(
    owner: User, cluster: Cluster
) -> None:
    node = provision(owner, cluster, "fresh")
    number = node.provider_ref
    try:
        assert remains_of(number)  # it runs
        page = Client()
        page.force_login(owner)
        assert page.post(f"/clusters/nodes/{node.pk}/drain/").status_code == 302
        task = NodeTask.objects.filter(node=node).latest("id")
        assert wait_task(task.pk).status == "successful"
        assert not remains_of(number)
        # The task of a node that is gone still names it (it had no params name: issue 10, N4).
        shown = page.get(f"/clusters/{cluster.pk}/")
        assert shown.status_code == 200
        row = shown.content.decode().split(f'data-live-task="{task.pk}"')[1].split("</tr>")[0]
        assert "fresh" in row
        assert page.get("/clusters/nodes/").status_code == 200
        assert page.get(f"/clusters/nodes/{node.pk}/").status_code in (200, 404)
    finally:
        harness.run_script("netns-node.sh", "down", number)


def start_worker_in_own_session(queue: str) -> subprocess.Popen[bytes]:
    """A Celery worker as honcho runs it: the leader of a process group that a terminal's Ctrl-C reaches whole."""
    harness.LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = (harness.LOG_DIR / "teardown-worker.log").open("ab")
    argv = [sys.executable, "-m", "celery", "-A", "console", "worker", "--pool", "threads", "--concurrency", "2"]
    argv += ["--queues", queue, "--without-mingle", "--without-gossip", "-n", "teardown@%h", "--loglevel", "INFO"]
    worker = subprocess.Popen(
        argv, cwd=ROOT, env=harness.subprocess_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    harness.wait_until(
        lambda: "ready." in (harness.LOG_DIR / "teardown-worker.log").read_text(errors="replace"), 60, 0.2, "worker"
    )
    return worker


def test_ctrl_c_of_the_worker_during_a_removal_leaves_nothing_behind(
    owner: User, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = provision(owner, cluster, "victim")
    number = node.provider_ref
    engine = docker.DockerClient(base_url=f"unix:///run/berth-node-{number}/docker.sock")
    try:
        # PID 1 ignores TERM: the engine's shutdown takes its 10 s, and the Ctrl-C lands in the middle of it.
        engine.containers.run("local/busybox:1", ["sleep", "3600"], name="slow", detach=True)
        queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-teardown"
        (harness.LOG_DIR / "teardown-worker.log").unlink(missing_ok=True)
        worker = start_worker_in_own_session(queue)
        monkeypatch.setattr(
            node_tasks.run_node_task, "delay", lambda pk: node_tasks.run_node_task.apply_async((pk,), queue=queue)
        )
        try:
            task = ops.remove_node(owner, node, drain=False)

            def tearing_down() -> bool:
                found = subprocess.run(["pgrep", "-f", f"netns-node.sh down {number}$"], capture_output=True)
                return found.returncode == 0

            harness.wait_until(tearing_down, 60, 0.05, "the teardown to start")
            time.sleep(0.5)
            os.killpg(worker.pid, signal.SIGINT)  # Ctrl-C under honcho: the whole process group
            worker.wait(90)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        monkeypatch.undo()
        done = NodeTask.objects.get(pk=task.pk)
        if done.status not in NodeTask.TERMINAL:  # the worker stopped before it finished: the reaper resumes it
            monkeypatch.setattr(settings, "BERTH_REAPER_TIMEOUT", 0.5)
            monkeypatch.setattr(settings, "BERTH_PENDING_RESEND_SECONDS", 0.5, raising=False)
            harness.wait_until(lambda: sum(node_tasks.reap_node_tasks().values()) >= 1, 10, 0.3, "the reaper")
        done = wait_task(task.pk)
        if done.status != "successful":  # a teardown that did not finish fails the task; removing again ends it
            assert Node.objects.get(pk=node.pk).state != Node.State.REMOVED, done.error
            done = wait_task(ops.remove_node(owner, Node.objects.get(pk=node.pk), drain=False).pk)
        assert done.status == "successful", done.error
        assert Node.objects.get(pk=node.pk).state == Node.State.REMOVED
        assert not remains_of(number)
    finally:
        engine.close()
        harness.run_script("netns-node.sh", "down", number)


def test_a_nodes_engine_survives_a_ctrl_c_of_whoever_started_it(services: None, tmp_path: Path) -> None:
    starter = subprocess.Popen(
        [str(ROOT / "scripts" / "netns-node.sh"), "up", "65"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # as the worker under honcho: the leader of the group a Ctrl-C reaches
    )
    try:
        assert starter.wait(120) == 0, starter.stderr.read() if starter.stderr else ""
        with contextlib.suppress(ProcessLookupError):  # nothing of it may be left in that group
            os.killpg(starter.pid, signal.SIGINT)
        time.sleep(2)
        client = docker.DockerClient(base_url="unix:///run/berth-node-65/docker.sock", timeout=5)
        try:
            assert client.ping()
        finally:
            client.close()
    finally:
        harness.run_script("netns-node.sh", "down", "65")
