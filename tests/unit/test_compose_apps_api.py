"""Compose applications through the API without an engine: plans, refusals, templates, config sets, policy."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts import operations as ram
from accounts.models import AccessKey, User
from apps import security
from apps.compose import load
from apps.models import Application, ConfigSet, Template
from clusters.models import Cluster, Node
from console.models import OperationLog
from tests.conftest import PASSWORD
from tests.unit.test_compose_corpus import CORPUS

APP = """
services:
  web:
    image: local/busybox:1
    ports: ["8080:80"]
    depends_on: [db]
    environment: ["PASSWORD=${DB_PASSWORD}", "MODE=${MODE:-prod}"]
  db:
    image: local/busybox:1
"""


def client_for(user: User) -> APIClient:
    key, secret = AccessKey.objects.issue(user)
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {key.key_id}:{secret}")
    return c


@pytest.fixture
def cluster(owner: User) -> Cluster:
    cluster = Cluster.objects.create(tenant=owner.tenant, name="c1")
    for i in (1, 2):
        Node.objects.create(
            cluster=cluster,
            name=f"n{i}",
            endpoint=f"unix:///nonexistent-n{i}.sock",
            publish_ip="127.0.0.1",
            state=Node.State.READY,
        )
    return cluster


def test_plan_changes_nothing_and_says_where(owner: User, cluster: Cluster) -> None:
    api = client_for(owner)
    response = api.post(
        f"/api/v1/clusters/{cluster.pk}/applications?dry_run=true",
        {"name": "shop", "compose": APP, "variables": {"DB_PASSWORD": "s3"}},
        format="json",
    )
    assert response.status_code == 200, response.content
    plan = response.json()
    assert plan["order"] == ["db", "web"]
    assert sorted(c["container"] for s in plan["services"] for c in s["create"]) == ["shop_db_1", "shop_web_1"]
    assert set(plan["missing_images"]) == {"n1", "n2"}  # the nodes did not answer: the images count as missing
    assert {s["name"]: s["pull_always"] for s in plan["services"]} == {"web": False, "db": False}
    assert not Application.objects.exists()
    latest = APP.replace(
        "  db:\n    image: local/busybox:1\n",
        "  db:\n    image: local/busybox:1\n    labels:\n      aliyun.latest_image: 'true'\n",
    )
    response = api.post(
        f"/api/v1/clusters/{cluster.pk}/applications?dry_run=true",
        {"name": "shop", "compose": latest, "variables": {"DB_PASSWORD": "s3"}},
        format="json",
    )
    assert {s["name"]: s["pull_always"] for s in response.json()["services"]} == {"web": False, "db": True}


def test_required_variable_and_bad_compose_are_refused_and_logged(owner: User, cluster: Cluster) -> None:
    api = client_for(owner)
    url = f"/api/v1/clusters/{cluster.pk}/applications"
    required = APP.replace("${DB_PASSWORD}", "${DB_PASSWORD:?set the database password}")
    missing = api.post(url, {"name": "shop", "compose": required}, format="json")
    assert missing.status_code == 400
    assert missing.json()["compose"] == [
        "services.web.environment[0]: required variable DB_PASSWORD is missing a value: set the database password"
    ]
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(12)
    )
    for text in (
        bomb,
        "services:\n  web:\n    build: .\n",
        "services:\n  w;rm:\n    image: x\n",
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
        "services:\n  a:\n    image: x\n    ports: ['70000:80']\n",
        "services:\n\ta:\n  image: x\n",
    ):
        response = api.post(url, {"name": "bad", "compose": text}, format="json")
        assert response.status_code == 400, text
        assert response.json()["compose"]
    assert not Application.objects.exists()
    assert OperationLog.objects.filter(action="cs:CreateApplication", outcome="failure").count() >= 6


def test_unset_variables_and_unknown_labels_are_warnings_of_the_plan_and_deploy(owner: User, cluster: Cluster) -> None:
    """A file Compose runs (an unset variable reads as empty) deploys unchanged; the plan says what was read so."""
    api = client_for(owner)
    url = f"/api/v1/clusters/{cluster.pk}/applications"
    text = (CORPUS / "awesome_web_postgres.yml").read_text()
    text = text.replace(
        "    restart: always\n  db:", "    restart: always\n    labels: {aliyun.project_type: batch}\n  db:"
    )
    plan = api.post(f"{url}?dry_run=true", {"name": "notes", "compose": text}, format="json")
    assert plan.status_code == 200, plan.content
    assert plan.json()["warnings"] == [
        "services.web.environment.TZ: variable TIMEZONE is not set and has no default: it reads as an empty string",
        "services.web.environment.DATABASE_URL: variable POSTGRES_USER is not set and has no default: it reads as "
        "an empty string",
        "services.web.environment.DATABASE_URL: variable POSTGRES_PASSWORD is not set and has no default: it reads "
        "as an empty string",
        "services.web.labels: unknown Alibaba label aliyun.project_type: it stays on the containers, but Berth does "
        "nothing with it",
    ]
    given = {"TIMEZONE": "UTC", "POSTGRES_USER": "notes", "POSTGRES_PASSWORD": "pw"}
    plan = api.post(f"{url}?dry_run=true", {"name": "notes", "compose": text, "variables": given}, format="json")
    assert [w.split(":")[1].strip() for w in plan.json()["warnings"]] == ["unknown Alibaba label aliyun.project_type"]
    deployed = api.post(url, {"name": "notes", "compose": text}, format="json")
    assert deployed.status_code == 202, deployed.content
    app = Application.objects.get(name="notes")
    assert app.services.get(name="db").spec["environment"]["POSTGRES_USER"] == ""


def test_the_plan_page_shows_the_warnings_and_the_form_asks_for_every_variable(owner: User, cluster: Cluster) -> None:
    from django.test import Client

    text = (CORPUS / "awesome_web_postgres.yml").read_text()
    template = Template.objects.create(tenant=owner.tenant, name="notes", compose=text, created_by=owner)
    page = Client()
    page.force_login(owner)
    form = page.get(f"/templates/own/{template.pk}/deploy/").content.decode()
    for name in ("TIMEZONE", "POSTGRES_USER", "POSTGRES_PASSWORD"):
        assert f'name="var_{name}"' in form
    response = page.post(
        f"/templates/own/{template.pk}/deploy/",
        {"app_name": "notes", "cluster": cluster.pk, "confirm": "0", "var_POSTGRES_USER": "notes"},
    )
    html = response.content.decode()
    assert 'data-testid="plan-warnings"' in html, html[-2000:]
    assert "variable TIMEZONE is not set and has no default: it reads as an empty string" in html
    assert "variable POSTGRES_PASSWORD is not set" in html and "variable POSTGRES_USER" not in html
    assert not Application.objects.exists()


def test_security_policy_binds_sub_accounts_not_the_owner(owner: User, cluster: Cluster) -> None:
    risky = """
services:
  tool:
    image: local/busybox:1
    privileged: true
    network_mode: host
    volumes: ["/var/run/docker.sock:/var/run/docker.sock", "/etc:/host-etc"]
"""
    dev = ram.create_subaccount(owner, name="dev2", password=PASSWORD)
    ram.grant(owner, "user:dev2", cluster, "operator")
    dev = User.objects.get(pk=dev.pk)
    response = client_for(dev).post(
        f"/api/v1/clusters/{cluster.pk}/applications?dry_run=true", {"name": "tool", "compose": risky}, format="json"
    )
    assert response.status_code == 400
    problems = " ".join(response.json()["compose"])
    for key in ("privileged", "network_mode", "volumes[0]", "Docker socket", "volumes[1]"):
        assert key in problems
    owner_plan = client_for(owner).post(
        f"/api/v1/clusters/{cluster.pk}/applications?dry_run=true", {"name": "tool", "compose": risky}, format="json"
    )
    assert owner_plan.status_code == 200
    cluster.security_policy = {
        "allow_privileged": True,
        "allow_host_namespaces": True,
        "allow_docker_socket": True,
        "bind_allow": ["/etc"],
    }
    cluster.save()
    assert (
        client_for(dev)
        .post(
            f"/api/v1/clusters/{cluster.pk}/applications?dry_run=true",
            {"name": "tool", "compose": risky},
            format="json",
        )
        .status_code
        == 200
    )


def test_policy_core() -> None:
    model: dict[str, Any] = {
        "services": {
            "a": {
                "volumes": [{"type": "bind", "source": "/srv/data/x", "target": "/x"}],
                "pid": "host",
                "devices": ["/dev/sda:/dev/sda"],
                "cap_add": ["SYS_ADMIN"],
            }
        }
    }
    found = security.refusals(model, {"bind_allow": ["/srv/data/x"]})
    assert [f.split(":")[0] for f in found] == ["services.a.pid", "services.a.devices", "services.a.cap_add"]
    assert security.refusals(model, {"bind_allow": ["/srv/dat"]})[-1].startswith("services.a.volumes[0]")
    # Only the allowed directories themselves: a path below one could be a symlink another container made.
    assert security.refusals(model, {"bind_allow": ["/srv/data"]})[-1].startswith("services.a.volumes[0]")


def test_templates_api_and_samples(owner: User) -> None:
    api = client_for(owner)
    listed = [t for t in api.get("/api/v1/templates").json()["results"] if t["sample"]]
    assert {s["name"] for s in listed} == {"web-db", "three-tier", "worker-queue"}
    web_db = next(s for s in listed if s["name"] == "web-db")
    assert {p["name"] for p in web_db["parameters"]} >= {"WEB_IMAGE", "DB_PASSWORD"}
    assert next(p for p in web_db["parameters"] if p["name"] == "DB_PASSWORD")["required"]
    bad = api.post(
        "/api/v1/templates", {"name": "t1", "compose": "services:\n  web:\n    image: x\n    bogus: 1\n"}, format="json"
    )
    assert bad.status_code == 400 and "services.web" in bad.json()["compose"][0] and "bogus" in bad.json()["compose"][0]
    assert api.post("/api/v1/templates", {"name": "t1", "compose": APP}, format="json").status_code == 201
    assert api.get("/api/v1/templates/t1").json()["parameters"][0]["name"] == "DB_PASSWORD"
    assert (
        api.put(
            "/api/v1/templates/t1", {"name": "t1", "compose": APP.replace("8080", "8081")}, format="json"
        ).status_code
        == 200
    )
    valid = api.post(
        "/api/v1/templates/validate", {"compose": APP, "variables": {"DB_PASSWORD": "x"}}, format="json"
    ).json()
    assert valid["valid"] and valid["graph"]["depends"] == [{"from": "web", "to": "db"}]
    invalid = api.post("/api/v1/templates/validate", {"compose": "services: [1]"}, format="json")
    assert invalid.status_code == 400 and invalid.json()["valid"] is False
    assert api.delete("/api/v1/templates/t1").status_code == 204
    assert not Template.objects.exists()


def test_config_sets_keep_secrets_and_feed_deploys(owner: User, cluster: Cluster) -> None:
    api = client_for(owner)
    made = api.post(
        "/api/v1/config-sets",
        {
            "name": "prod",
            "variables": {
                "DB_PASSWORD": {"value": "hunter2", "secret": True},
                "MODE": {"value": "fast", "secret": False},
            },
        },
        format="json",
    )
    assert made.status_code == 201
    assert made.json()["variables"] == {
        "DB_PASSWORD": {"value": None, "secret": True},
        "MODE": {"value": "fast", "secret": False},
    }
    stored = ConfigSet.objects.get(name="prod").variables["DB_PASSWORD"]["value"]
    assert "hunter2" not in stored
    plan = api.post(
        f"/api/v1/clusters/{cluster.pk}/applications?dry_run=true",
        {"name": "shop", "compose": APP, "config_set": "prod"},
        format="json",
    )
    assert plan.status_code == 200, plan.content
    assert "hunter2" not in str(OperationLog.objects.values_list("parameters", flat=True))
    assert "hunter2" not in api.get("/api/v1/config-sets/prod").content.decode()
    changed = api.put(
        "/api/v1/config-sets/prod",
        {"name": "prod", "variables": {"DB_PASSWORD": {"secret": True}, "MODE": {"value": "slow"}}},
        format="json",
    ).json()
    assert changed["variables"]["MODE"]["value"] == "slow" and changed["applications"] == []
    assert ConfigSet.objects.get(name="prod").variables["DB_PASSWORD"]["value"] == stored  # secret kept


def test_aliyun_probe_labels_become_a_healthcheck(owner: User, cluster: Cluster) -> None:
    from apps.converge import spec_options
    from apps.models import Service

    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="probed")
    spec = {
        "image": "x",
        "labels": {
            "aliyun.probe.url": "http://container:8080/health",
            "aliyun.probe.timeout_seconds": "5",
            "aliyun.probe.initial_delay_seconds": "3",
        },
    }
    service = Service.objects.create(application=app, name="w", image="x", spec=spec)
    check = spec_options(app, service, cluster.nodes.first())["create_options"]["healthcheck"]
    assert check["test"] == ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/health || exit 1"]
    assert (check["timeout"], check["start_period"], check["interval"]) == (5 * 10**9, 3 * 10**9, 10 * 10**9)
    service.spec = {
        "image": "x",
        "labels": {"aliyun.probe.cmd": "test -f /ready"},
        "healthcheck": {"test": ["CMD", "true"], "interval": "2s"},
    }
    assert spec_options(app, service, cluster.nodes.first())["create_options"]["healthcheck"]["test"] == ["CMD", "true"]


def test_pids_limit_reaches_the_host_config(owner: User, cluster: Cluster) -> None:
    """pids_limit (or deploy's pids limit) is passed to Docker as the container's PidsLimit; -1 is no limit."""
    import docker

    from apps.converge import spec_options
    from apps.models import Service

    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="bounded")
    model = load((CORPUS / "pids_limit.yml").read_bytes())
    node = cluster.nodes.first()
    engine = docker.APIClient(base_url="unix:///nonexistent.sock", version="1.41")  # builds the body, never calls
    limits = {}
    for name, spec in model["services"].items():
        service = Service.objects.create(application=app, name=name, image=spec["image"], spec=spec)
        host_options = spec_options(app, service, node)["host_options"]
        limits[name] = engine.create_host_config(**host_options).get("PidsLimit")
    assert limits == {"web": 200, "worker": -1, "batch": 64, "legacy": 100}


def test_the_plan_page_says_which_services_pull_again(owner: User, cluster: Cluster) -> None:
    from django.test import Client

    from apps.models import Template

    text = "services:\n  web:\n    image: local/busybox:1\n    labels:\n      aliyun.latest_image: 'true'\n"
    template = Template.objects.create(tenant=owner.tenant, name="latest", compose=text, created_by=owner)
    page = Client()
    page.force_login(owner)
    response = page.post(
        f"/templates/own/{template.pk}/deploy/", {"app_name": "fresh", "cluster": cluster.pk, "confirm": "0"}
    )
    html = response.content.decode()
    assert 'data-testid="plan"' in html, html[-2000:]
    assert "pulled again" in html and "Images missing on nodes" in html
    assert not Application.objects.exists()
