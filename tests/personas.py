"""The four personas of the permission suite, and a tenant world for them to look at.

* ``owner``    — the primary account of tenant "acme".
* ``reader``   — a sub-account of acme with a read-only grant on cluster A only.
* ``denied``   — a sub-account of acme allowed ``cs:*`` by a policy, with an explicit Deny on cluster A.
* ``stranger`` — the primary account of another tenant, "globex".

Every tenant-owned resource plugs into ``tests/unit/test_permission_suite.py`` with the names each
persona must see; later resources add a row there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from accounts import operations as ram
from accounts.models import User
from apps.models import Application, Container, Release, Service, Template
from clusters.models import Cluster, Node
from console import audit
from tests.conftest import PASSWORD, make_tenant


@dataclass
class World:
    owner: User
    reader: User
    denied: User
    stranger: User
    cluster_a: Cluster
    cluster_b: Cluster
    cluster_c: Cluster  # the stranger's
    apps: dict[str, Application] = field(default_factory=dict)
    releases: dict[str, Release] = field(default_factory=dict)

    def persona(self, name: str) -> User:
        return getattr(self, name)


def _cluster(owner: User, name: str) -> tuple[Cluster, Application, Release]:
    cluster = Cluster.objects.create(tenant=owner.tenant, name=name)
    node = Node.objects.create(
        cluster=cluster,
        name=f"node-{name}",
        endpoint=f"unix:///nonexistent-{name}.sock",
        publish_ip="127.0.0.1",
        state=Node.State.READY,
    )
    app = Application.objects.create(
        tenant=owner.tenant, cluster=cluster, name=f"app-{name}", status="running", created_by=owner
    )
    service = Service.objects.create(application=app, name=app.name, image="local/busybox:1", scale=1)
    Container.objects.create(service=service, node=node, index=1, name=f"{app.name}_{app.name}_1", state="running")
    release = Release.objects.create(application=app, kind="deploy", status="successful")
    audit.record(
        "cs:CreateApplication", actor=owner, target=app.name, resource=app.resource_name, cluster_id=cluster.pk
    )
    return cluster, app, release


def build_world() -> World:
    owner = make_tenant("acme")
    stranger = make_tenant("globex")
    cluster_a, app_a, rel_a = _cluster(owner, "a")
    cluster_b, app_b, rel_b = _cluster(owner, "b")
    cluster_c, app_c, rel_c = _cluster(stranger, "c")
    Template.objects.create(tenant=owner.tenant, name="tpl-acme", compose="services:\n  web:\n    image: x\n")
    Template.objects.create(tenant=stranger.tenant, name="tpl-globex", compose="services:\n  web:\n    image: x\n")
    audit.record("cs:TenantWide", actor=owner, target="no-cluster")

    reader = ram.create_subaccount(owner, name="reader", password=PASSWORD)
    ram.grant(owner, "user:reader", cluster_a, "read-only")

    denied = ram.create_subaccount(owner, name="denied", password=PASSWORD)
    document: dict[str, Any] = {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": "cs:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "cs:*", "Resource": [cluster_a.resource_name, f"{cluster_a.resource_name}/*"]},
        ],
    }
    policy = ram.create_policy(owner, name="all-but-a", document=document)
    ram.attach_policy(owner, policy, user=denied)
    ram.create_group(owner, name="ops", members=["denied"])
    for user in (reader, denied):
        user.refresh_from_db()
    world = World(owner, reader, denied, stranger, cluster_a, cluster_b, cluster_c)
    world.apps = {"a": app_a, "b": app_b, "c": app_c}
    world.releases = {"a": rel_a, "b": rel_b, "c": rel_c}
    return world
