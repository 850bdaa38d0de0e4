"""Two requests at the same moment, each in its own thread with its own database connection: the rules "one
active release per application", "one active task per node" and "one name per application, template or config
set" hold, and the request that loses is told so (409 or 400), never a 500.

SQLite's immediate transactions make most writers take turns, which hides these races; the test command runs this
layer on PostgreSQL too, where they showed. ``race`` makes them certain rather than likely: each request pauses
right after the check that precedes its write until the other has made its check as well, or waits for a lock.
Without a lock both checks see nothing and both write; with the row lock the second request waits for the first
to commit and its check sees the first's row; where no row can be locked (a new name), the unique constraint
refuses the second write and the operation answers as its check would have.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import AccessKey, User
from apps.models import Application, Release
from clusters.models import Cluster, NodeTask
from console import work
from tests.harness import wait_until
from tests.integration.conftest import wait_release

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PAUSE = 2.0  # SQLite: seconds a request waits at its check for the others (the whole wait when they take turns)
PAUSE_POSTGRES = 30.0  # PostgreSQL: the most it waits; it goes on as soon as the others checked or wait for a lock
SLEEPER = {"image": "local/busybox:1", "command": "sleep 3600"}
COMPOSE = "services:\n  web:\n    image: local/busybox:1\n    command: sleep 3600\n"


def race(calls: list[Callable[[], Any]], check: Callable[[str], bool]) -> list[Any]:
    """Run ``calls`` at once, one thread and database connection each, and return what each returned (or raised).

    Each pauses after its first query for which ``check(sql)`` holds (the check before the write) until every other
    call made its check too, or waits for a lock (PostgreSQL: ``pg_stat_activity``; SQLite: ``PAUSE`` seconds).
    """
    started = threading.Barrier(len(calls))
    arrived: dict[int, bool] = {}
    pids: dict[int, int] = {}
    results: list[Any] = [None] * len(calls)
    local = threading.local()
    postgres = connection.vendor == "postgresql"
    monitor = psycopg.connect(**_conninfo(), autocommit=True) if postgres else None

    def others_wait() -> bool:
        others = [pids[i] for i in range(len(calls)) if i != local.index and not arrived.get(i)]
        if not others:
            return True
        if monitor is None:
            return False
        blocked = monitor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s) AND wait_event_type = 'Lock'", [others]
        ).fetchone()
        return blocked is not None and blocked[0] == len(others)

    def pause_after_check(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        result = execute(sql, params, many, context)
        if check(sql) and not arrived.get(local.index):
            arrived[local.index] = True
            deadline = time.monotonic() + (PAUSE_POSTGRES if postgres else PAUSE)
            while time.monotonic() < deadline and not others_wait():
                time.sleep(0.05)
        return result

    def run(index: int) -> None:
        local.index = index
        try:
            connection.ensure_connection()
            pids[index] = connection.connection.info.backend_pid if postgres else index
            started.wait(30)
            with connection.execute_wrapper(pause_after_check):
                results[index] = calls[index]()
        except BaseException as exc:  # noqa: BLE001 - reported to the test, which fails on it
            results[index] = exc
        finally:
            arrived[index] = True  # a call that ended without its check keeps nobody waiting
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        if monitor is not None:
            monitor.close()
    return results


def _conninfo() -> dict[str, Any]:
    """psycopg's connection arguments for the test database."""
    db = connection.settings_dict
    return {
        "dbname": db["NAME"],
        "user": db["USER"],
        "password": db["PASSWORD"],
        "host": db["HOST"],
        "port": db["PORT"] or None,
    }


def is_check_of(table: str, *words: str) -> Callable[[str], bool]:
    """The existence check (``.exists()``: ``SELECT 1 AS "a" FROM … LIMIT 1``, the 1 a parameter) of ``table`` whose
    SQL has every one of ``words``."""
    start = re.compile(rf'SELECT (?:1|%s) AS "a" FROM "{table}" ')
    return lambda sql: bool(start.match(sql)) and all(w in sql for w in words)


def answered(client: APIClient, method: str, url: str, body: dict[str, Any] | None = None) -> Callable[[], Any]:
    """A request to make in a thread: its status and JSON body."""

    def call() -> tuple[int, Any]:
        response = getattr(client, method)(url, body, format="json")
        if response.get("Content-Type", "").startswith("application/json"):
            return response.status_code, response.json()
        return response.status_code, response.content[:300]

    return call


@pytest.fixture
def clients(owner: User) -> Iterator[list[APIClient]]:
    """Two API clients of the owner (one per thread), each with an access key of its own."""
    made = []
    for _ in range(2):
        key, secret = AccessKey.objects.issue(owner)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.key_id}:{secret}")
        client.raise_request_exception = False  # a 500 is an answer the test reports, not an exception
        made.append(client)
    yield made


@pytest.fixture
def held_work(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """Work accepted during the race is held until the test lets it go (the callable; the rest at the end), not
    sent at its commit: the first request's release or task is still active when the second checks, even where
    writers take turns (SQLite) and the work is quick."""
    held: list[tuple[work.Send, int]] = []
    send = work.send

    def let_go() -> None:
        while held:
            send(*held.pop(0))

    monkeypatch.setattr(work, "enqueue", lambda publish, row_id: held.append((publish, row_id)))
    yield let_go
    let_go()


def settle(app: Application) -> None:
    """Wait for the application's releases to end (the test's containers go with ``clean_engine``)."""
    for release in Release.objects.filter(application=app):
        wait_release(release.pk)


def test_a_scale_and_a_start_at_the_same_moment_leave_one_active_release(
    clients: list[APIClient], cluster: Cluster, request: pytest.FixtureRequest
) -> None:
    base = f"/api/v1/clusters/{cluster.pk}/applications"
    made = clients[0].post(base, {"name": "pair", **SLEEPER}, format="json")
    assert made.status_code == 202, made.content
    assert wait_release(made.json()["id"]).status == "successful"
    app = Application.objects.get(name="pair")
    before = set(Release.objects.filter(application=app).values_list("pk", flat=True))
    let_go = request.getfixturevalue("held_work")  # after the first deploy, which runs as usual

    results = race(
        [
            answered(clients[0], "post", f"{base}/pair/services/pair/scale", {"scale": 2}),
            answered(clients[1], "post", f"{base}/pair/start"),
        ],
        is_check_of("apps_release", '"status" IN'),
    )

    statuses = sorted(status for status, _body in results)
    assert statuses == [202, 409], results
    refused = next(body for status, body in results if status == 409)
    assert "still in progress" in refused["detail"]
    made_now = Release.objects.filter(application=app).exclude(pk__in=before)
    assert made_now.count() == 1  # the refused request left no row behind
    let_go()
    settle(app)


def test_two_resets_of_one_node_at_the_same_moment_leave_one_active_task(
    clients: list[APIClient], cluster: Cluster, held_work: Callable[[], None]
) -> None:
    node = cluster.nodes.get()
    url = f"/api/v1/clusters/{cluster.pk}/nodes/{node.name}/reset"

    results = race(
        [answered(clients[0], "post", url), answered(clients[1], "post", url)],
        is_check_of("clusters_nodetask", '"node_id" =', '"status" IN'),
    )

    statuses = sorted(status for status, _body in results)
    assert statuses == [202, 409], results
    assert NodeTask.objects.filter(node=node, kind=NodeTask.Kind.RESET).count() == 1
    held_work()

    def ended() -> bool:
        return not NodeTask.objects.filter(node=node, status__in=NodeTask.ACTIVE).exists()

    wait_until(ended, 60, 0.2, "the reset to end")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(SLEEPER, id="image"),
        pytest.param({"compose": COMPOSE}, id="compose"),
    ],
)
def test_two_deploys_of_one_name_at_the_same_moment_make_one_application_and_one_400(
    clients: list[APIClient], cluster: Cluster, body: dict[str, Any]
) -> None:
    url = f"/api/v1/clusters/{cluster.pk}/applications"

    results = race(
        [answered(c, "post", url, {"name": "twin", **body}) for c in clients],
        is_check_of("apps_application", '"name" =', '"deleted_at" IS NULL'),
    )

    statuses = sorted(status for status, _body in results)
    assert statuses == [202, 400], results
    refused = next(body for status, body in results if status == 400)
    assert refused == {"name": ["An application with this name already exists in the cluster."]}
    app = Application.objects.get(name="twin", deleted_at__isnull=True)
    assert Release.objects.filter(application=app).count() == 1
    settle(app)


@pytest.mark.parametrize(
    ("url", "body", "table", "taken"),
    [
        pytest.param(
            "/api/v1/templates",
            {"name": "tpl", "compose": COMPOSE},
            "apps_template",
            "A template with this name already exists.",
            id="template",
        ),
        pytest.param(
            "/api/v1/config-sets",
            {"name": "cfg", "variables": {"MODE": {"value": "fast", "secret": False}}},
            "apps_configset",
            "A config set with this name already exists.",
            id="config-set",
        ),
    ],
)
def test_two_creates_of_one_name_in_the_library_make_one_and_one_400(
    clients: list[APIClient], url: str, body: dict[str, Any], table: str, taken: str
) -> None:
    results = race([answered(c, "post", url, body) for c in clients], is_check_of(table, '"name" ='))

    statuses = sorted(status for status, _body in results)
    assert statuses == [201, 400], results
    assert next(body for status, body in results if status == 400) == {"name": [taken]}
