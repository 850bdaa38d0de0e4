"""The routing service's rules without an engine (issue 13): claims refused at plan time with a precise message and
nothing changed, conflicts named within a tenant and another tenant's domain never taken, routes written with the
services (weights kept), the routing settings and weights through the API, and who may do what."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.permissions import grant_role
from apps.models import Application, Release, Service
from clusters.models import Cluster
from console.models import OperationLog
from routing import routes, sync
from routing.models import Listener, Route
from tests.unit.test_compose_apps_api import client_for


def web(claim: str, ports: str = "    expose: ['80']\n", sticky: bool = False) -> str:
    more = "      aliyun.routing.session_sticky: 'true'\n" if sticky else ""
    return (
        "services:\n  web:\n    image: local/busybox:1\n"
        f"{ports}    labels:\n      aliyun.routing.port_80: '{claim}'\n{more}"
    )


def plan(api: APIClient, cluster: Cluster, name: str, compose: str) -> tuple[int, dict]:
    response = api.post(
        f"/api/v1/clusters/{cluster.pk}/applications?dry_run=true", {"name": name, "compose": compose}, format="json"
    )
    return response.status_code, response.json()


def holder(cluster: Cluster, name: str, domain: str, path: str = "/") -> Application:
    app = Application.objects.create(tenant=cluster.tenant, cluster=cluster, name=name)
    service = Service.objects.create(application=app, name="web", image="local/busybox:1")
    Route.objects.create(cluster=cluster, application=app, service=service, domain=domain, path=path, port=80)
    return app


@pytest.mark.parametrize(
    ("compose", "why"),
    [
        (web("bad_domain!.test"), "'bad_domain!.test' is not a hostname"),
        (web("www.example.test/a b"), "the path '/a b' has a space in it"),
        (web(".web"), "a prefix is one DNS label without dots"),
        (web("web", ports=""), "the service does not expose port 80 (add it to ports or expose; it exposes none)"),
        (web("web", ports="    expose: ['8080']\n"), "does not expose port 80"),
    ],
)
def test_a_bad_claim_is_refused_at_plan_time_and_nothing_changes(
    owner: User, overlay: Cluster, compose: str, why: str
) -> None:
    api = client_for(owner)
    status, body = plan(api, overlay, "shop", compose)
    assert status == 400 and any(why in line for line in body["compose"]), body
    deployed = api.post(f"/api/v1/clusters/{overlay.pk}/applications", {"name": "shop", "compose": compose})
    assert deployed.status_code == 400
    assert not Application.objects.filter(name="shop").exists() and not Route.objects.exists()


def test_a_route_another_application_holds_is_refused_naming_it(owner: User, overlay: Cluster) -> None:
    holder(overlay, "blog", "www.example.test", "/api")
    api = client_for(owner)
    status, body = plan(api, overlay, "shop", web("http://www.example.test/api"))
    assert status == 400
    assert body["compose"] == ["services.web.labels: http://www.example.test/api is already routed to application blog"]
    other = Cluster.objects.create(tenant=owner.tenant, name="c2", network_mode=Cluster.NetworkMode.OVERLAY)
    status, body = plan(api, other, "shop", web("www.example.test/api"))
    assert status == 400 and body["compose"][0].endswith("already routed to application blog on cluster c1")
    # Another path of the same domain is free; so is the holder's own route when it changes its Compose file.
    assert plan(api, overlay, "shop", web("www.example.test/shop"))[0] == 200
    own = {"services": {"web": {"expose": ["80"], "labels": {"aliyun.routing.port_80": "www.example.test/api"}}}}
    assert routes.refusals(overlay, own, "blog") == []


def test_another_tenants_domain_can_never_be_taken(owner: User, outsider: User, overlay: Cluster) -> None:
    theirs = Cluster.objects.create(tenant=outsider.tenant, name="g1", network_mode=Cluster.NetworkMode.OVERLAY)
    holder(theirs, "site", "www.globex.test", "/")
    status, body = plan(client_for(owner), overlay, "shop", web("www.globex.test/other"))
    assert status == 400
    assert body["compose"] == ["services.web.labels: the domain www.globex.test belongs to another account"]
    assert "site" not in str(body) and "g1" not in str(body)


def test_routes_are_written_with_the_services_and_keep_their_weight(owner: User, overlay: Cluster) -> None:
    api = client_for(owner)
    url = f"/api/v1/clusters/{overlay.pk}/applications"
    made = api.post(url, {"name": "shop", "compose": web("web;www.example.test/api", sticky=True)}, format="json")
    assert made.status_code == 202, made.content
    routes = {(r.domain, r.path): r for r in Route.objects.all()}
    assert set(routes) == {("web.c1.localhost", "/"), ("www.example.test", "/api")}
    assert all(r.sticky and r.port == 80 for r in routes.values())
    Route.objects.filter(domain="web.c1.localhost").update(weight=30)
    Release.objects.update(status=Release.Status.SUCCESSFUL)  # no worker here: the deploy counts as done
    changed = api.patch(f"{url}/shop", {"compose": web("web")}, format="json")
    assert changed.status_code == 202, changed.content
    assert [(r.domain, r.path, r.weight, r.sticky) for r in Route.objects.all()] == [
        ("web.c1.localhost", "/", 30, False)
    ]


def test_the_routing_settings_through_the_api_and_who_may(owner: User, member: User, overlay: Cluster) -> None:
    api = client_for(owner)
    url = f"/api/v1/clusters/{overlay.pk}/routing"
    shown = api.get(url).json()
    assert shown == {
        "enabled": False,
        "port": 9080,
        "http_port": False,
        "https_port": False,
        "root_domain": "c1.localhost",
        "routers": [],
    }
    for body, field, message in [
        ({"port": 2377}, "port", "the engine's, the swarm's"),
        ({"port": 70000}, "port", "less than or equal to 65535"),
        ({"enabled": "maybe"}, "enabled", "Must be a valid boolean"),
        ({"colour": "red"}, "colour", "Unknown field"),
    ]:
        refused = api.patch(url, body, format="json")
        assert refused.status_code == 400 and message in str(refused.json()[field]), refused.json()
    changed = api.patch(url, {"enabled": True, "port": 9180}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["enabled"] and changed.json()["port"] == 9180
    overlay.refresh_from_db()
    assert overlay.system_services["routing"] is True
    assert OperationLog.objects.filter(action="cs:ModifyRouting", target="c1").count() == 1
    bridge = Cluster.objects.create(tenant=owner.tenant, name="b1", network_mode=Cluster.NetworkMode.BRIDGE)
    refused = api.patch(f"/api/v1/clusters/{bridge.pk}/routing", {"enabled": True}, format="json")
    assert refused.status_code == 400 and "needs the cluster network" in refused.json()["enabled"][0]

    grant_role(member, "read-only", overlay)
    reader = client_for(member)
    assert reader.get(url).status_code == 200
    denied = reader.patch(url, {"enabled": False}, format="json")
    assert denied.status_code == 403
    assert OperationLog.objects.filter(action="cs:ModifyRouting", actor=member, outcome="denied").count() == 1
    overlay.refresh_from_db()
    assert overlay.system_services["routing"] is True


def test_weights_through_the_api(owner: User, member: User, overlay: Cluster) -> None:
    app = holder(overlay, "shop", "web.c1.localhost")
    route = Route.objects.get(application=app)
    api = client_for(owner)
    url = f"/api/v1/clusters/{overlay.pk}/routes/{route.pk}"
    assert api.patch(url, {"weight": 101}, format="json").status_code == 400
    changed = api.patch(url, {"weight": 0}, format="json")
    assert changed.status_code == 200 and changed.json()["weight"] == 0
    listed = api.get(f"/api/v1/clusters/{overlay.pk}/routes").json()["results"]
    assert [(r["address"], r["application"], r["service"], r["weight"]) for r in listed] == [
        ("http://web.c1.localhost:9080", "shop", "web", 0)
    ]
    entry = OperationLog.objects.get(action="cs:ModifyRoute")
    assert entry.target == "shop/web" and entry.parameters["weight"] == 0
    grant_role(member, "read-only", overlay)  # a reader sees the route and may not weigh it
    reader = client_for(member)
    assert reader.get(url).status_code == 200
    assert reader.patch(url, {"weight": 50}, format="json").status_code == 403
    assert OperationLog.objects.filter(action="cs:ModifyRoute", actor=member, outcome="denied").count() == 1
    assert Route.objects.get(pk=route.pk).weight == 0


def test_another_tenant_sees_no_route(owner: User, outsider: User, overlay: Cluster) -> None:
    route = Route.objects.get(application=holder(overlay, "shop", "web.c1.localhost"))
    theirs = client_for(outsider)
    assert theirs.get(f"/api/v1/clusters/{overlay.pk}/routes").status_code == 404
    assert theirs.patch(f"/api/v1/clusters/{overlay.pk}/routes/{route.pk}", {"weight": 1}).status_code == 404
    assert theirs.patch(f"/api/v1/clusters/{overlay.pk}/routing", {"enabled": True}).status_code == 404


def test_the_routing_page_shows_the_routes_and_changes_through_its_forms(
    owner: User, member: User, overlay: Cluster
) -> None:
    from django.test import Client

    app = holder(overlay, "shop", "web.c1.localhost")
    route = Route.objects.get(application=app)
    page = Client()
    page.force_login(owner)
    shown = page.get(f"/clusters/{overlay.pk}/routing/").content.decode()
    assert "http://web.c1.localhost:9080" in shown and "shop</a>/web:80" in shown
    assert 'data-testid="routing-enabled"' in shown and "No router: routing is off." in shown
    changed = page.post(f"/clusters/{overlay.pk}/routing/settings/", {"enabled": "on", "port": "9180"})
    assert changed.status_code == 302
    overlay.refresh_from_db()
    assert overlay.system_services["routing"] and sync.settings_of(overlay).port == 9180
    refused = page.post(f"/clusters/{overlay.pk}/routing/settings/", {"enabled": "on", "port": "22x"}, follow=True)
    assert "port: A port from 1 to 65535." in refused.content.decode()
    assert sync.settings_of(overlay).port == 9180
    weighed = page.post(f"/clusters/{overlay.pk}/routing/weight/", {"route": route.pk, "weight": "25"})
    assert weighed.status_code == 302 and Route.objects.get(pk=route.pk).weight == 25
    # The cluster page links it; the application page lists its address.
    assert f"/clusters/{overlay.pk}/routing/" in page.get(f"/clusters/{overlay.pk}/").content.decode()
    app_page = page.get(f"/applications/{app.pk}/").content.decode()
    assert "http://web.c1.localhost:9180" in app_page
    assert f'href="/clusters/{overlay.pk}/routing/?application=shop" data-testid="app-routes"' in app_page
    holder(overlay, "blog", "blog.c1.localhost")  # the application's own routes page lists its routes only
    own = page.get(f"/clusters/{overlay.pk}/routing/?application=shop").content.decode()
    assert "web.c1.localhost" in own and "blog.c1.localhost" not in own and "of application shop" in own
    assert "blog.c1.localhost" in page.get(f"/clusters/{overlay.pk}/routing/").content.decode()
    assert (
        "No application nobody on this cluster."
        in page.get(f"/clusters/{overlay.pk}/routing/?application=nobody").content.decode()
    )

    grant_role(member, "read-only", overlay)
    reader = Client()
    reader.force_login(member)
    seen = reader.get(f"/clusters/{overlay.pk}/routing/").content.decode()
    assert "http://web.c1.localhost:9180" in seen and 'data-testid="routing-enabled"' not in seen
    assert 'name="weight"' not in seen  # no control it may not use
    assert reader.post(f"/clusters/{overlay.pk}/routing/weight/", {"route": route.pk, "weight": "0"}).status_code == 403
    assert Route.objects.get(pk=route.pk).weight == 25


def lb(front: str, expose: str = "    expose: ['5432']\n") -> str:
    return f"services:\n  db:\n    image: local/busybox:1\n{expose}    labels:\n      aliyun.lb.port_5432: '{front}'\n"


@pytest.mark.parametrize(
    ("compose", "why"),
    [
        (lb("tcp://slb:9080"), "front port 9080 is the cluster's routing port"),
        (lb("tcp://slb:2377"), "front port 2377 is a port of the engine or the swarm"),
        (lb("tcp://slb:70000"), "front port 70000 is out of range (1-65535)"),
        (lb("udp://slb:5000"), "must be tcp://LISTENER:FRONT_PORT"),
        (lb("tcp://slb:5000", expose=""), "label aliyun.lb.port_5432: the service does not expose port 5432"),
        (lb("tcp://slb:6000"), "front port 6000 is taken by listener shared of application other"),
    ],
)
def test_a_bad_listener_is_refused_at_plan_time_and_nothing_changes(
    owner: User, overlay: Cluster, compose: str, why: str
) -> None:
    other = holder(overlay, "other", "other.c1.localhost")
    Listener.objects.create(
        cluster=overlay, application=other, service=other.services.get(), name="shared", front_port=6000, port=80
    )
    status, body = plan(client_for(owner), overlay, "shop", compose)
    assert status == 400 and any(why in line for line in body["compose"]), body
    assert not Application.objects.filter(name="shop").exists()
    assert Listener.objects.count() == 1


def test_listeners_are_written_with_the_services_and_listed(owner: User, overlay: Cluster) -> None:
    api = client_for(owner)
    made = api.post(
        f"/api/v1/clusters/{overlay.pk}/applications", {"name": "shop", "compose": lb("tcp://slb:5000")}, format="json"
    )
    assert made.status_code == 202, made.content
    listed = api.get(f"/api/v1/clusters/{overlay.pk}/listeners").json()["results"]
    assert [(r["name"], r["protocol"], r["front_port"], r["service"], r["port"]) for r in listed] == [
        ("slb", "tcp", 5000, "db", 5432)
    ]
    from django.test import Client

    browser = Client()
    browser.force_login(owner)
    shown = browser.get(f"/clusters/{overlay.pk}/routing/").content.decode()
    assert 'data-testid="listener-5000"' in shown and "shop</a>/db:5432" in shown


def test_the_plan_lists_what_the_application_will_claim(owner: User, overlay: Cluster) -> None:
    from console.cli import plan_lines

    compose = web("web;https://www.example.test/api").replace(
        "      aliyun.routing.port_80", "      aliyun.lb.port_80: 'tcp://slb:8088'\n      aliyun.routing.port_80"
    )
    status, body = plan(client_for(owner), overlay, "shop", compose)
    assert status == 200, body
    assert body["routes"] == [
        {"service": "web", "address": "http://web.c1.localhost", "port": 80},
        {"service": "web", "address": "https://www.example.test/api", "port": 80},
        {"service": "web", "address": "tcp://slb:8088", "port": 80},
    ]
    assert "  http://web.c1.localhost → web:80 (when the cluster's routing is on)" in plan_lines(body)
