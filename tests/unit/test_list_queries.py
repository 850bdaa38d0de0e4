"""Every list of the API is a page (``count``, ``next``, ``previous``, ``results``), and what a page costs in
queries does not grow with the rows: each list is asked at two sizes, by the primary account and by a sub-account
whose policy is decided in SQL, and the second answer must make exactly as many queries as the first.

A list plugs in with a row of ``LISTS``: its URL and a factory that adds ``n`` more rows of what it lists (with
what its shape shows: services, containers, releases, members, policies…). A test fails when a list endpoint of
the URL configuration has no row here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from drf_spectacular.settings import spectacular_settings
from rest_framework.test import APIClient

from accounts import operations as ram
from accounts.models import AccessKey, Policy, RamGroup, User
from apps.converge import NETWORKS_KEY
from apps.models import Application, AppVersion, ConfigSet, Container, Release, Service, Template
from clusters.models import Cluster, Network, Node, RegistryCredential, UserCertificate
from console import audit, paging
from observability.models import EngineEvent, LogLine
from routing.models import Certificate, Listener, Route
from tests.conftest import PASSWORD

SMALL, LARGE = 2, 7
counter = itertools.count()


@dataclass
class Tenant:
    """The primary account, a sub-account allowed everything through patterns (SQL, not "*") and a role, and one
    cluster with a node; the factories add rows to it."""

    owner: User
    sub: User
    cluster: Cluster
    node: Node
    app: Application
    group: RamGroup
    policy: Policy


@pytest.fixture
def tenant(owner: User) -> Tenant:
    cluster = Cluster.objects.create(tenant=owner.tenant, name="c1")
    node = Node.objects.create(
        cluster=cluster, name="n0", endpoint="unix:///nonexistent-n0.sock", publish_ip="127.0.0.1", state="ready"
    )
    sub = ram.create_subaccount(owner, name="sub", password=PASSWORD)
    document = {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": ["cs:*", "ram:*"], "Resource": ["acs:cs:*", "acs:ram:*"]},
            {"Effect": "Deny", "Action": "cs:*", "Resource": "acs:cs:*:*:cluster/999999*"},
        ],
    }
    policy = ram.create_policy(owner, name="everything", document=document)
    ram.attach_policy(owner, policy, user=sub)
    ram.grant(owner, "user:sub", cluster, "developer")
    group = ram.create_group(owner, name="ops", members=["sub"])
    app = make_app(owner, cluster, node, "the-app")
    return Tenant(owner, sub, cluster, node, app, group, policy)


def make_app(owner: User, cluster: Cluster, node: Node, name: str) -> Application:
    """An application of two services of two containers, two releases and a version, using a config set."""
    config = ConfigSet.objects.create(tenant=owner.tenant, name=f"cfg-{name}", variables={"A": {"value": "1"}})
    app = Application.objects.create(
        tenant=owner.tenant, cluster=cluster, name=name, created_by=owner, config_set=config, version=1
    )
    for service_name in ("web", "db"):
        service = Service.objects.create(
            application=app, name=service_name, image="local/busybox:1", environment={"SECRET_TOKEN": "abcdefgh"}
        )
        for index in (1, 2):
            Container.objects.create(
                service=service, node=node, index=index, name=f"{name}_{service_name}_{index}", published_port=8000
            )
    Release.objects.create(application=app, kind="deploy", status="successful")
    Release.objects.create(application=app, kind="scale", status="successful")
    AppVersion.objects.create(application=app, number=1, compose="services: {}\n")
    return app


def more_clusters(t: Tenant, n: int) -> None:
    for _ in range(n):
        number = next(counter)
        cluster = Cluster.objects.create(tenant=t.owner.tenant, name=f"c-{number}")
        node = Node.objects.create(
            cluster=cluster, name=f"n-{number}", endpoint=f"unix:///nonexistent-{number}.sock", publish_ip="127.0.0.1"
        )
        make_app(t.owner, cluster, node, f"app-{number}")
        ram.grant(t.owner, "user:sub", cluster, "read-only")


def more_nodes(t: Tenant, n: int) -> None:
    for _ in range(n):
        number = next(counter)
        node = Node.objects.create(
            cluster=t.cluster, name=f"n-{number}", endpoint=f"unix:///nonexistent-{number}.sock", publish_ip="10.0.0.1"
        )
        service = t.app.services.first()
        Container.objects.create(service=service, node=node, index=100 + number, name=f"x_{number}")


def more_apps(t: Tenant, n: int) -> None:
    for _ in range(n):
        make_app(t.sub if n % 2 else t.owner, t.cluster, t.node, f"app-{next(counter)}")


def more_versions(t: Tenant, n: int) -> None:
    start = t.app.versions.count() + 1
    for number in range(start, start + n):
        AppVersion.objects.create(application=t.app, number=number, compose="services: {}\n", digests={"web": "x"})


def more_networks(t: Tenant, n: int) -> None:
    """Shared networks, each joined by a service of a new application (the list names the applications)."""
    for _ in range(n):
        number = next(counter)
        Network.objects.create(cluster=t.cluster, name=f"shared-{number}", created_by=t.owner)
        app = Application.objects.create(tenant=t.owner.tenant, cluster=t.cluster, name=f"joins-{number}", version=1)
        joined = {"shared": {"name": f"shared-{number}", "external": True}}
        Service.objects.create(application=app, name="web", image="local/busybox:1", spec={NETWORKS_KEY: joined})


def more_routes(t: Tenant, n: int) -> None:
    """Routes, each of a new application's service with a container (the list names each route's backends)."""
    for _ in range(n):
        number = next(counter)
        app = Application.objects.create(tenant=t.owner.tenant, cluster=t.cluster, name=f"routed-{number}", version=1)
        service = Service.objects.create(application=app, name="web", image="local/busybox:1")
        Container.objects.create(service=service, node=t.node, index=1, name=f"routed-{number}_web_1", state="running")
        Route.objects.create(
            cluster=t.cluster, application=app, service=service, domain=f"r{number}.example.test", port=80
        )


def more_events(t: Tenant, n: int) -> None:
    """Engine events: of the tenant's application, and each of a new application (the cluster list names them)."""
    for _ in range(n):
        number = next(counter)
        app = Application.objects.create(tenant=t.owner.tenant, cluster=t.cluster, name=f"ev-{number}", version=1)
        for owner_app in (t.app, app):
            EngineEvent.objects.create(
                cluster=t.cluster,
                node=t.node,
                node_name=t.node.name,
                application=owner_app,
                service="web",
                container=f"{owner_app.name}_web_1",
                action="died",
                exit_code=number,
                at=timezone.now(),
            )


def more_log_lines(t: Tenant, n: int) -> None:
    """Lines the application's containers wrote."""
    for _ in range(n):
        number = next(counter)
        LogLine.objects.create(
            cluster=t.cluster,
            application=t.app,
            node_name=t.node.name,
            service="web",
            container="the-app_web_1",
            stream="stdout",
            ts_ns=number,
            at=timezone.now(),
            text=f"line {number}",
        )


def more_listeners(t: Tenant, n: int) -> None:
    """Listeners, each of a new application's service with a container."""
    for _ in range(n):
        number = next(counter)
        app = Application.objects.create(tenant=t.owner.tenant, cluster=t.cluster, name=f"lb-{number}", version=1)
        service = Service.objects.create(application=app, name="db", image="local/busybox:1")
        Container.objects.create(service=service, node=t.node, index=1, name=f"lb-{number}_db_1", state="running")
        Listener.objects.create(
            cluster=t.cluster, application=app, service=service, name="slb", front_port=20000 + number, port=5432
        )


def more_certificates(t: Tenant, n: int) -> None:
    for _ in range(n):
        number = next(counter)
        UserCertificate.objects.create(
            cluster=t.cluster,
            user=t.sub,
            user_login="sub@acme",
            serial=f"{number:x}",
            fingerprint="f",
            not_after=timezone.now(),
        )


def more_credentials(t: Tenant, n: int) -> None:
    for _ in range(n):
        RegistryCredential.objects.create(tenant=t.owner.tenant, registry=f"r{next(counter)}.io", username="u")


def more_web_certificates(t: Tenant, n: int) -> None:
    for _ in range(n):
        number = next(counter)
        Certificate.objects.create(
            tenant=t.owner.tenant,
            name=f"c{number}",
            subject=f"CN=w{number}.example.com",
            issuer="CN=ca",
            names=[f"w{number}.example.com"],
            not_before=timezone.now(),
            not_after=timezone.now() + timedelta(days=90),
            fingerprint="00",
            chain_sealed="x",
            key_sealed="x",
        )


def more_templates(t: Tenant, n: int) -> None:
    for _ in range(n):
        Template.objects.create(tenant=t.owner.tenant, name=f"t-{next(counter)}", compose="services: {}\n")


def more_config_sets(t: Tenant, n: int) -> None:
    for _ in range(n):
        make_app(t.owner, t.cluster, t.node, f"uses-{next(counter)}")


def more_log(t: Tenant, n: int) -> None:
    for _ in range(n):
        audit.record("cs:DescribeClusters", actor=t.owner, target=f"t{next(counter)}", cluster_id=t.cluster.pk)


def more_users(t: Tenant, n: int) -> None:
    for _ in range(n):
        user = ram.create_subaccount(t.owner, name=f"u{next(counter)}", password=PASSWORD)
        ram.attach_policy(t.owner, t.policy, user=user)
        TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
        t.group.auth_group.user_set.add(user)


def more_groups(t: Tenant, n: int) -> None:
    for _ in range(n):
        group = ram.create_group(t.owner, name=f"g{next(counter)}", members=["sub"])
        ram.attach_policy(t.owner, t.policy, group=group)


def _policies(t: Tenant, n: int) -> list[Policy]:
    document = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "cs:Get*", "Resource": "*"}]}
    return [ram.create_policy(t.owner, name=f"p{next(counter)}", document=document) for _ in range(n)]


def more_policies(t: Tenant, n: int) -> None:
    for policy in _policies(t, n):
        ram.add_policy_version(t.owner, policy, policy.default().document)


def more_user_policies(t: Tenant, n: int) -> None:
    for policy in _policies(t, n):
        ram.attach_policy(t.owner, policy, user=t.sub)


def more_group_policies(t: Tenant, n: int) -> None:
    for policy in _policies(t, n):
        ram.attach_policy(t.owner, policy, group=t.group)


def more_keys(t: Tenant, n: int) -> None:
    for _ in range(n):  # the API stops at two a user; rows made directly
        AccessKey.objects.issue(t.sub)


def more_policy_versions(t: Tenant, n: int) -> None:
    for _ in range(n):  # five are kept: a version made directly
        number = t.policy.versions.count() + 1
        t.policy.versions.create(number=number, document=t.policy.default().document)


def more_grants(t: Tenant, n: int) -> None:
    for _ in range(n):
        cluster = Cluster.objects.create(tenant=t.owner.tenant, name=f"g-{next(counter)}")
        ram.grant(t.owner, "group:ops", cluster, "operator")


@dataclass(frozen=True)
class Listing:
    url: Callable[[Tenant], str]
    more: Callable[[Tenant, int], None]


LISTS: dict[str, Listing] = {
    "/api/v1/clusters": Listing(lambda t: "/api/v1/clusters", more_clusters),
    "/api/v1/clusters/{cluster_id}/nodes": Listing(lambda t: f"/api/v1/clusters/{t.cluster.pk}/nodes", more_nodes),
    "/api/v1/clusters/{cluster_id}/applications": Listing(
        lambda t: f"/api/v1/clusters/{t.cluster.pk}/applications", more_apps
    ),
    "/api/v1/clusters/{cluster_id}/applications/{name}/versions": Listing(
        lambda t: f"/api/v1/clusters/{t.cluster.pk}/applications/{t.app.name}/versions", more_versions
    ),
    "/api/v1/clusters/{cluster_id}/networks": Listing(
        lambda t: f"/api/v1/clusters/{t.cluster.pk}/networks", more_networks
    ),
    "/api/v1/clusters/{cluster_id}/events": Listing(lambda t: f"/api/v1/clusters/{t.cluster.pk}/events", more_events),
    "/api/v1/clusters/{cluster_id}/applications/{name}/events": Listing(
        lambda t: f"/api/v1/clusters/{t.cluster.pk}/applications/{t.app.name}/events", more_events
    ),
    "/api/v1/clusters/{cluster_id}/applications/{name}/logs": Listing(
        lambda t: f"/api/v1/clusters/{t.cluster.pk}/applications/{t.app.name}/logs", more_log_lines
    ),
    "/api/v1/clusters/{cluster_id}/routes": Listing(lambda t: f"/api/v1/clusters/{t.cluster.pk}/routes", more_routes),
    "/api/v1/clusters/{cluster_id}/listeners": Listing(
        lambda t: f"/api/v1/clusters/{t.cluster.pk}/listeners", more_listeners
    ),
    "/api/v1/clusters/{cluster_id}/certificates": Listing(
        lambda t: f"/api/v1/clusters/{t.cluster.pk}/certificates", more_certificates
    ),
    "/api/v1/registry-credentials": Listing(lambda t: "/api/v1/registry-credentials", more_credentials),
    "/api/v1/certificates": Listing(lambda t: "/api/v1/certificates", more_web_certificates),
    "/api/v1/templates": Listing(lambda t: "/api/v1/templates", more_templates),
    "/api/v1/config-sets": Listing(lambda t: "/api/v1/config-sets", more_config_sets),
    "/api/v1/operation-logs": Listing(lambda t: "/api/v1/operation-logs", more_log),
    "/api/v1/ram/users": Listing(lambda t: "/api/v1/ram/users", more_users),
    "/api/v1/ram/groups": Listing(lambda t: "/api/v1/ram/groups", more_groups),
    "/api/v1/ram/policies": Listing(lambda t: "/api/v1/ram/policies", more_policies),
    "/api/v1/ram/users/{name}/policies": Listing(lambda t: "/api/v1/ram/users/sub/policies", more_user_policies),
    "/api/v1/ram/groups/{name}/policies": Listing(lambda t: "/api/v1/ram/groups/ops/policies", more_group_policies),
    "/api/v1/ram/users/{name}/access-keys": Listing(lambda t: "/api/v1/ram/users/sub/access-keys", more_keys),
    "/api/v1/ram/policies/{name}/versions": Listing(
        lambda t: "/api/v1/ram/policies/everything/versions", more_policy_versions
    ),
    "/api/v1/ram/grants": Listing(lambda t: "/api/v1/ram/grants", more_grants),
}
NOT_OF_ROWS = {"/api/v1/ram/actions"}  # the action catalogue: made from the code, no rows to grow
SIZES = {"/api/v1/ram/users/{name}/access-keys": (1, 2), "/api/v1/ram/policies/{name}/versions": (1, 3)}


def get(user: User, url: str) -> Any:
    """``GET url`` as ``user``, read fresh (nothing cached on the user object from an earlier request)."""
    client = APIClient()
    client.force_authenticate(User.objects.get(pk=user.pk))
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    return response.json()


@pytest.mark.parametrize("persona", ["owner", "sub"])
@pytest.mark.parametrize("route", list(LISTS))
def test_a_list_costs_the_same_queries_at_two_sizes(
    tenant: Tenant, route: str, persona: str, django_assert_num_queries: Any
) -> None:
    listing = LISTS[route]
    user = getattr(tenant, persona)
    url = listing.url(tenant)
    small, large = SIZES.get(route, (SMALL, LARGE))
    listing.more(tenant, small)
    with CaptureQueriesContext(connection) as first:
        body = get(user, url)
    assert set(body) == {"count", "next", "previous", "results"}, body
    shown = body["count"]
    assert shown >= small and len(body["results"]) == shown
    listing.more(tenant, large - small)
    with django_assert_num_queries(len(first.captured_queries)):
        body = get(user, url)
    assert body["count"] >= shown + large - small and len(body["results"]) == body["count"]


def test_every_list_endpoint_is_in_the_table() -> None:
    """A list endpoint (a ``GET`` answered with a page) without a row in ``LISTS`` fails here, and so does a ``GET``
    answered with a bare array (a list that is not cut into pages)."""
    schema = spectacular_settings.DEFAULT_GENERATOR_CLASS().get_schema(request=None, public=True)
    bare = [
        path
        for path, operations in schema["paths"].items()
        if "get" in operations
        for answer in operations["get"]["responses"].get("200", {}).get("content", {}).values()
        if answer.get("schema", {}).get("type") == "array"
    ]
    assert bare == []
    paged = {
        path
        for path, operations in schema["paths"].items()
        if "get" in operations and {"limit", "offset"} <= {p["name"] for p in operations["get"].get("parameters", [])}
    }
    assert paged - NOT_OF_ROWS == set(LISTS)


def test_limit_and_offset_cut_the_list(tenant: Tenant) -> None:
    more_templates(tenant, 5)
    body = get(tenant.owner, "/api/v1/templates?limit=2&offset=1")
    assert len(body["results"]) == 2 and body["previous"] and body["next"]
    own = Template.objects.filter(tenant=tenant.owner.tenant).count()
    assert body["count"] > own  # the samples follow the tenant's own
    everything = get(tenant.owner, f"/api/v1/templates?limit={body['count']}")["results"]
    assert [t["sample"] for t in everything] == [False] * own + [True] * (body["count"] - own)
    assert everything[1:3] == body["results"]


# --- the console's list pages ---------------------------------------------------------------------------------

PAGES: dict[str, tuple[str, Callable[[Tenant, int], None]]] = {
    "applications": ("apps:list", more_apps),
    "clusters": ("clusters:list", more_clusters),
    "nodes": ("clusters:nodes", more_nodes),
    "templates": ("apps:templates", more_templates),
    "RAM users": ("accounts:ram_users", more_users),
    "RAM groups": ("accounts:ram_groups", more_groups),
    "RAM policies": ("accounts:ram_policies", more_policies),
    "operation log": ("console:operation_logs", more_log),
    "config sets": ("apps:config_sets", more_config_sets),
    "registry credentials": ("clusters:registry_credentials", more_credentials),
}


def browse(user: User, url: str) -> str:
    browser = Client()
    browser.force_login(User.objects.get(pk=user.pk))
    response = browser.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


@pytest.mark.parametrize("persona", ["owner", "sub"])
@pytest.mark.parametrize("label", list(PAGES))
def test_a_list_page_costs_the_same_queries_at_two_sizes(
    tenant: Tenant, label: str, persona: str, django_assert_num_queries: Any
) -> None:
    name, more = PAGES[label]
    user = getattr(tenant, persona)
    browser = Client()
    browser.force_login(User.objects.get(pk=user.pk))
    more(tenant, SMALL)
    with CaptureQueriesContext(connection) as first:
        assert browser.get(reverse(name)).status_code == 200
    more(tenant, LARGE - SMALL)
    with django_assert_num_queries(len(first.captured_queries)):
        assert browser.get(reverse(name)).status_code == 200


@pytest.mark.parametrize("label", [label for label in PAGES if label != "operation log"])  # its own pager, filtered
def test_a_list_page_shows_one_page_and_a_pager(tenant: Tenant, label: str, monkeypatch: Any) -> None:
    monkeypatch.setattr(paging, "PAGE_SIZE", 2)
    name, more = PAGES[label]
    more(tenant, 4)
    first = browse(tenant.owner, reverse(name))
    assert 'data-testid="pager"' in first and 'rel="next"' in first and 'rel="prev"' not in first
    second = browse(tenant.owner, reverse(name) + "?page=2")
    assert 'rel="prev"' in second


def test_object_pages_show_their_resource_name_and_my_account_the_account_id(tenant: Tenant) -> None:
    owner = tenant.owner
    pages = {
        reverse("apps:detail", args=[tenant.app.pk]): tenant.app.resource_name,
        reverse("clusters:detail", args=[tenant.cluster.pk]): tenant.cluster.resource_name,
        reverse("clusters:node", args=[tenant.node.pk]): tenant.node.resource_name,
        reverse("accounts:ram_user", args=["sub"]): tenant.sub.resource_name,
        reverse("accounts:ram_group", args=["ops"]): tenant.group.resource_name,
    }
    for url, resource in pages.items():
        assert f'<code data-testid="resource-name">{resource}</code>' in browse(owner, url), url
        assert f'data-copy="{resource}"' in browse(owner, url), url
    mine = browse(tenant.sub, reverse("accounts:account"))
    assert f'<code data-testid="account-id">{owner.tenant_id}</code>' in mine
    assert f'<code data-testid="resource-name">{tenant.sub.resource_name}</code>' in mine


def test_the_api_names_the_account_and_the_resources(tenant: Tenant) -> None:
    account = get(tenant.sub, "/api/v1/account")
    assert account == {
        "account_id": tenant.owner.tenant_id,
        "account_alias": "acme",
        "account_name": tenant.owner.tenant.name,
        "user": "sub",
        "login": "sub@acme",
        "kind": "sub",
        "resource_name": f"acs:ram:*:{tenant.owner.tenant_id}:user/sub",
    }
    cluster = tenant.cluster
    assert get(tenant.sub, f"/api/v1/clusters/{cluster.pk}")["resource_name"] == cluster.resource_name
    app = get(tenant.sub, f"/api/v1/clusters/{cluster.pk}/applications/{tenant.app.name}")
    assert app["resource_name"] == f"{cluster.resource_name}/application/{tenant.app.name}"
    node = get(tenant.sub, f"/api/v1/clusters/{cluster.pk}/nodes/{tenant.node.name}")
    assert node["resource_name"] == f"{cluster.resource_name}/node/{tenant.node.name}"
    more_templates(tenant, 1)
    listed = get(tenant.owner, "/api/v1/templates")["results"][0]
    assert listed["resource_name"] == f"acs:cs:*:{tenant.owner.tenant_id}:template/{listed['name']}"
    config = get(tenant.owner, "/api/v1/config-sets")["results"][0]
    assert config["resource_name"] == f"acs:cs:*:{tenant.owner.tenant_id}:configset/{config['name']}"
    policy = get(tenant.owner, "/api/v1/ram/policies/AdministratorAccess")
    assert policy["resource_name"] == f"acs:ram:*:{tenant.owner.tenant_id}:policy/AdministratorAccess"
