#!/usr/bin/env python
"""The API at scale: with 2,000 applications of 3 containers in one cluster, how long the first page of the
application list and one application's detail take, for the primary account and for a sub-account.

    .venv/bin/python bench/api_scale.py [--apps 2000] [--rounds 30]
    .venv/bin/python bench/api_scale.py --root /tmp/berth-head   # the same against another checkout (before)

It builds the rows directly (bulk inserts) in a throwaway SQLite database of its own (var/bench-api-*/), then
calls the API in-process through Django's test client, with an access key in ``Authorization: Bearer``: every
middleware, the access-key authentication, the permission door, DRF and the database, but no HTTP server (see
bench/README.md for why). It prints the median and the 90th percentile of each, the number of queries and the
size of the answer, and the time of one permission check (``authorize``) of a sub-account (the user read afresh,
as each request does). Each time is given on the clock and in CPU time (see ``timed``).
Targets (issue 11): list under 150 ms, detail under 50 ms (medians).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
PASSWORD = "Bench-pass-123"


def setup_django(root: Path, label: str) -> None:
    """Settings of the checkout at ``root`` on a database of its own (made afresh)."""
    data = HERE / "var" / f"bench-api-{label}"
    data.mkdir(parents=True, exist_ok=True)
    (data / "api.sqlite3").unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        (data / f"api.sqlite3{suffix}").unlink(missing_ok=True)
    os.environ.update(
        {
            "BERTH_DATA_DIR": str(data),
            "DATABASE_URL": f"sqlite:///{data / 'api.sqlite3'}",
            "DJANGO_SETTINGS_MODULE": "console.settings",
            "BERTH_LOG_LEVEL": "ERROR",
            "BERTH_INSTANCE": f"berth-bench-api-{label}",
            "DEBUG": "false",
        }
    )
    sys.path.insert(0, str(root))
    os.chdir(root)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build(apps: int) -> dict[str, Any]:
    """A tenant with one cluster of 10 nodes and ``apps`` applications of three one-container services (each with
    two releases and a version); a sub-account allowed the applications by pattern (with a Deny) and a developer
    on the cluster."""
    from accounts import operations as ram
    from accounts.models import AccessKey, Tenant, User
    from apps.models import Application, AppVersion, Container, Release, Service
    from clusters.models import Cluster, Node

    tenant = Tenant.objects.create(name="Bench", alias="bench")
    owner = User.objects.create_user(tenant, "admin", PASSWORD, is_primary=True)
    cluster = Cluster.objects.create(tenant=tenant, name="big")
    nodes = [
        Node.objects.create(
            cluster=cluster,
            name=f"n{i}",
            endpoint=f"unix:///nonexistent-{i}.sock",
            publish_ip="127.0.0.1",
            state="ready",
        )
        for i in range(10)
    ]
    sub = ram.create_subaccount(owner, name="dev", password=PASSWORD)
    apps_of = f"{cluster.resource_name}/application/"
    document = {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": "cs:Describe*", "Resource": cluster.resource_name},
            {"Effect": "Allow", "Action": "cs:*", "Resource": f"{apps_of}app-*"},
            {"Effect": "Deny", "Action": "cs:*", "Resource": f"{apps_of}app-19*"},
        ],
    }
    ram.attach_policy(owner, ram.create_policy(owner, name="apps", document=document), user=sub)
    ram.grant(owner, "user:dev", cluster, "developer")
    rows = Application.objects.bulk_create(
        Application(
            tenant=tenant,
            cluster=cluster,
            name=f"app-{i:05}",
            status="running",
            created_by=sub if i % 2 else owner,
            version=1,
        )
        for i in range(apps)
    )
    services = Service.objects.bulk_create(
        Service(application=app, name=name, image="local/busybox:1", scale=1, environment={"MODE": "production"})
        for app in rows
        for name in ("web", "worker", "db")
    )
    Container.objects.bulk_create(
        Container(
            service=service,
            node=nodes[number % len(nodes)],
            index=1,
            name=f"{service.application.name}_{service.name}_1",
            state="running",
            published_port=20000 + number % 30000,
        )
        for number, service in enumerate(services)
    )
    Release.objects.bulk_create(
        Release(application=app, kind=kind, status="successful") for app in rows for kind in ("deploy", "scale")
    )
    AppVersion.objects.bulk_create(AppVersion(application=app, number=1, compose="services: {}\n") for app in rows)
    keys = {}
    for label, user in (("owner", owner), ("sub-account", sub)):
        key, secret = AccessKey.objects.issue(user)
        keys[label] = f"{key.key_id}:{secret}"
    return {"cluster": cluster, "keys": keys, "app": rows[len(rows) // 4].name, "sub": sub}


def timed(call: Any, rounds: int) -> tuple[list[float], list[float], Any]:
    """Milliseconds of each of ``rounds`` calls (after three to warm up), on the clock and of this process's CPU
    time, and the last answer. Everything runs in this process (the database is SQLite), so the CPU time is the
    work itself, and it stays put when other processes share the machine; the clock does not."""
    answer = None
    for _ in range(3):
        answer = call()
    times, cpu = [], []
    for _ in range(rounds):
        started, used = time.perf_counter(), time.process_time()
        answer = call()
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - used) * 1000)
    return times, cpu, answer


def summary(times: list[float], cpu: list[float]) -> str:
    """Median and 90th percentile on the clock, and the median CPU time."""
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"{statistics.median(times):8.1f} ms  p90 {p90:8.1f} ms  cpu {statistics.median(cpu):7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--root", default=str(HERE), help="the checkout to measure (default: this one)")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    label = "this" if root == HERE else root.name
    setup_django(root, label)

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from accounts.permissions import authorize
    from apps.models import Application

    started = time.monotonic()
    world = build(args.apps)
    print(f"{args.apps} applications of 3 containers built in {time.monotonic() - started:.1f} s ({root})")
    cluster = world["cluster"]
    base = f"/api/v1/clusters/{cluster.pk}/applications"
    for persona, key in world["keys"].items():
        client = Client(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_HOST="127.0.0.1")
        for what, url in (("list, first page", base), ("detail", f"{base}/{world['app']}")):
            times, cpu, answer = timed(lambda url=url, client=client: client.get(url), args.rounds)
            assert answer.status_code == 200, (url, answer.status_code, answer.content[:200])
            with CaptureQueriesContext(connection) as queries:
                client.get(url)
            body = answer.json()
            rows = len(body["results"]) if isinstance(body, dict) and "results" in body else len(body)
            rows = 1 if what == "detail" else rows
            size = len(answer.content) // 1024
            print(
                f"{persona:12} {what:17} {summary(times, cpu)}  {len(queries):4} queries  {rows:5} rows  {size:6} KiB"
            )
    sub = world["sub"]
    app = Application.objects.get(cluster=cluster, name=world["app"])
    with CaptureQueriesContext(connection) as queries:
        authorize(User.objects.get(pk=sub.pk), "cs:UpdateApplication", app)
    times, cpu, _ = timed(lambda: authorize(User.objects.get(pk=sub.pk), "cs:UpdateApplication", app), args.rounds)
    print(f"{'sub-account':12} {'authorize (door)':17} {summary(times, cpu)}  {len(queries):4} queries")


if __name__ == "__main__":
    main()
