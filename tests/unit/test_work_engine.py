"""The one long-work engine (console.work): releases and node tasks go through the same runner, so each behaviour
is proven for both kinds. The kind's steps are replaced by a step of the test (the engine is what is tested);
everything else is the real code: rows, compare-and-set, the operation log, live messages after commit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import User
from apps import releases
from apps.models import Application, Release, ReleaseEvent
from clusters import nodework
from clusters.models import Cluster, Node, NodeTask
from console import live, work
from console.models import OperationLog

pytestmark = pytest.mark.django_db


@dataclass
class Kind:
    """One kind of long work as the engine sees it."""

    name: str
    runner: type[work.Runner]
    steps: dict[str, Callable[..., None]]
    key: str  # the kind whose steps the test replaces
    action: str  # its operation-log action
    group: str  # its live group kind
    make: Callable[[User], Any]

    def row(self, owner: User) -> Any:
        return self.make(owner)

    def group_id(self, row: Any) -> int:
        return row.application_id if isinstance(row, Release) else row.cluster_id


def _cluster(owner: User) -> Cluster:
    cluster, _made = Cluster.objects.get_or_create(tenant=owner.tenant, name="c1")
    return cluster


def _release(owner: User) -> Release:
    cluster = _cluster(owner)
    app = Application.objects.create(
        tenant=owner.tenant, cluster=cluster, name="web", created_by=owner, status=Application.Status.RUNNING
    )
    return Release.objects.create(application=app, kind=Release.Kind.RESTART, actor=owner)


def _node_task(owner: User) -> NodeTask:
    cluster = _cluster(owner)
    node = Node.objects.create(
        cluster=cluster, name="n1", endpoint="tcp://10.250.70.2:2375", publish_ip="10.250.70.2", engine_id="E1"
    )
    return NodeTask.objects.create(cluster=cluster, node=node, kind=NodeTask.Kind.RESET, actor=owner, target_name="n1")


KINDS = [
    Kind(
        "release",
        releases.Run,
        releases.RUNNERS,
        Release.Kind.RESTART,
        "cs:RestartApplication",
        "application",
        _release,
    ),
    Kind(
        "node task", nodework.Task, nodework.RUNNERS, NodeTask.Kind.RESET, "cs:ResetClusterNode", "cluster", _node_task
    ),
]


@pytest.fixture(params=KINDS, ids=[k.name for k in KINDS])
def kind(request: pytest.FixtureRequest) -> Kind:
    return request.param


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Live messages as the publisher would send them (after commit)."""
    messages: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(live.publisher, "send", lambda group, payload: messages.append((group, payload)))
    return messages


@pytest.fixture
def run_row(django_capture_on_commit_callbacks: Any) -> Iterator[Callable[[Kind, Any], str]]:
    """Carry out a row as the Celery task does, with its on-commit work (live messages) done."""

    def run(kind: Kind, row: Any) -> str:
        with django_capture_on_commit_callbacks(execute=True):
            return work.execute(kind.runner, row.pk)

    yield run


def replace_steps(monkeypatch: pytest.MonkeyPatch, kind: Kind, step: Callable[[work.Runner], None]) -> None:
    if kind.runner is releases.Run:
        monkeypatch.setitem(kind.steps, kind.key, step)
    else:
        monkeypatch.setitem(kind.steps, kind.key, lambda task, run: step(run))


def entries(kind: Kind) -> list[OperationLog]:
    return list(OperationLog.objects.filter(action=kind.action).order_by("seq"))


def statuses(sent: list[tuple[str, dict[str, Any]]], kind: Kind, row: Any) -> list[str]:
    group = f"{kind.group}-{kind.group_id(row)}"
    wanted = "release" if kind.runner is releases.Run else "node_task"
    return [p["status"] for g, p in sent if g == group and p.get("type") == wanted and p.get("id") == row.pk]


def test_cancel_at_a_checkpoint_ends_the_work_canceled_with_its_entry_and_live_message(
    kind: Kind, owner: User, monkeypatch: pytest.MonkeyPatch, run_row: Any, sent: list
) -> None:
    row = kind.row(owner)
    reached: list[str] = []

    def step(run: work.Runner) -> None:
        run.set_total(3)
        run.step()
        type(row).objects.filter(pk=row.pk).update(cancel_requested=True)  # someone asks while it runs
        reached.append("before")
        run.checkpoint()
        reached.append("after")  # never: the checkpoint stops the work

    replace_steps(monkeypatch, kind, step)
    assert run_row(kind, row) == "canceled"
    row.refresh_from_db()
    assert reached == ["before"]
    assert (row.status, row.error, row.progress_done, row.progress_total) == ("canceled", "Canceled by request.", 1, 3)
    assert row.finished_at is not None and row.attempts == 1
    [entry] = entries(kind)
    assert (entry.outcome, entry.error, entry.source) == ("failure", "Canceled by request.", "task")
    assert statuses(sent, kind, row)[-1] == "canceled"


def test_a_second_copy_of_the_message_is_skipped(
    kind: Kind, owner: User, monkeypatch: pytest.MonkeyPatch, run_row: Any, sent: list
) -> None:
    row = kind.row(owner)
    runs: list[int] = []
    replace_steps(monkeypatch, kind, lambda run: runs.append(run.row.pk))
    assert run_row(kind, row) == "successful"
    assert run_row(kind, row) == "skipped"  # delivered twice: the work ran once

    other = another(row)
    type(other).objects.filter(pk=other.pk).update(status="running")  # another worker claimed it already
    assert run_row(kind, other) == "skipped"
    other.refresh_from_db()
    assert other.status == "running" and other.attempts == 0

    row.refresh_from_db()
    assert runs == [row.pk] and row.attempts == 1 and row.status == "successful"
    assert [e.outcome for e in entries(kind)] == ["success"]


def another(first: Any) -> Any:
    """A new row of the same kind for the same object (the first one has ended)."""
    if isinstance(first, Release):
        return Release.objects.create(application=first.application, kind=first.kind, actor=first.actor)
    return NodeTask.objects.create(cluster=first.cluster, node=first.node, kind=first.kind, actor=first.actor)


def test_a_crash_ends_the_row_failed_with_the_reason(
    kind: Kind, owner: User, monkeypatch: pytest.MonkeyPatch, run_row: Any, sent: list
) -> None:
    row = kind.row(owner)

    def step(run: work.Runner) -> None:
        run.set_total(2)
        run.step()
        {}["missing"]  # a bug in the kind's code

    replace_steps(monkeypatch, kind, step)
    assert run_row(kind, row) == "failed"
    row.refresh_from_db()
    assert row.status == "failed" and row.error == "KeyError: 'missing'" and row.finished_at is not None
    assert row.progress_done == 1
    [entry] = entries(kind)
    assert entry.outcome == "failure" and entry.error == "KeyError: 'missing'"
    assert statuses(sent, kind, row)[-1] == "failed"


def test_consequences_that_crash_still_end_the_row_failed_with_both_reasons(
    kind: Kind, owner: User, monkeypatch: pytest.MonkeyPatch, run_row: Any, sent: list
) -> None:
    row = kind.row(owner)
    replace_steps(monkeypatch, kind, lambda run: None)

    def conclude(self: work.Runner, final: str, error: str) -> None:
        raise RuntimeError("the node row is locked")

    monkeypatch.setattr(kind.runner, "conclude", conclude)
    assert run_row(kind, row) == "failed"
    row.refresh_from_db()
    assert row.status == "failed" and row.error == "RuntimeError: the node row is locked"
    [entry] = entries(kind)
    assert entry.outcome == "failure" and "the node row is locked" in entry.error
    assert statuses(sent, kind, row)[-1] == "failed"


def test_a_heartbeat_moves_and_a_silent_row_is_resumed_then_failed_by_the_reaper(
    kind: Kind, owner: User, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    monkeypatch.setattr(settings, "BERTH_REAPER_TIMEOUT", 60.0)
    row = kind.row(owner)
    long_ago = timezone.now() - timedelta(minutes=10)
    manager = type(row).objects.filter(pk=row.pk)
    manager.update(status="running", attempts=1, heartbeat_at=long_ago)
    row.refresh_from_db()

    runner = kind.runner(row)
    runner.heartbeat()
    assert manager.get().heartbeat_at > long_ago
    manager.update(heartbeat_at=long_ago)
    runner.set_total(2)
    runner.step()  # progress is a heartbeat too
    assert manager.get().heartbeat_at > long_ago
    resent: list[int] = []
    assert work.reap(kind.runner, resent.append) == {"resumed": 0, "failed": 0, "resent": 0}

    manager.update(heartbeat_at=long_ago)  # its worker vanished
    with django_capture_on_commit_callbacks(execute=True):
        assert work.reap(kind.runner, resent.append)["resumed"] == 1
    assert manager.get().status == "pending" and resent == [row.pk]
    if isinstance(row, Release):
        assert ReleaseEvent.objects.filter(release=row, message__contains="worker was lost").exists()

    manager.update(status="running", attempts=settings.BERTH_RELEASE_MAX_ATTEMPTS, heartbeat_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        assert work.reap(kind.runner, resent.append)["failed"] == 1
    failed = manager.get()
    assert failed.status == "failed" and "stopped answering" in failed.error
    assert [e.outcome for e in entries(kind)] == ["failure"]
