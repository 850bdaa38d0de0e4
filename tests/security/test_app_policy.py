"""A sub-account cannot walk around the cluster's security policy (issue 9, item 5): capabilities however spelt,
weakened isolation, another application's namespaces, bind sources a symlink could redirect, the host's
addresses, and containers made again from a spec the primary account made (scale, redeploy)."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from apps.models import Application, Release
from clusters.models import Cluster
from tests.security.app_world import client_for, deploy_url, make_cluster, subaccount

pytestmark = pytest.mark.django_db


@pytest.fixture
def cluster(owner: User) -> Cluster:
    return make_cluster(owner)


@pytest.fixture
def operator(owner: User, cluster: Cluster) -> User:
    """A sub-account that may deploy, update, scale and redeploy on the cluster."""
    return subaccount(owner, "op", cluster, "operator")


def service(extra: str) -> str:
    return f"services:\n  web:\n    image: local/busybox:1\n    command: sleep 3600\n{extra}"


def dry_run(user: User, cluster: Cluster, compose: str, name: str = "probe") -> tuple[int, str]:
    response = client_for(user).post(
        deploy_url(cluster) + "?dry_run=true", {"name": name, "compose": compose}, format="json"
    )
    return response.status_code, response.content.decode()


@pytest.mark.parametrize(
    "caps",
    [["CAP_SYS_ADMIN"], ["sys_admin"], ["all"], ["DAC_READ_SEARCH", "SYS_RAWIO", "BPF"], ["cap_sys_ptrace"]],
)
def test_subaccount_cannot_add_capabilities_by_spelling_them_differently(
    operator: User, cluster: Cluster, caps: list[str]
) -> None:
    status, body = dry_run(operator, cluster, service(f"    cap_add: {caps}\n"))
    assert status == 400, body
    assert "cap_add" in body and caps[0] in body
    # What Docker gives every container anyway may be added back, however it is spelt.
    status, body = dry_run(
        operator, cluster, service("    cap_drop: [ALL]\n    cap_add: [chown, CAP_NET_BIND_SERVICE]\n")
    )
    assert status == 200, body


@pytest.mark.parametrize(
    "extra",
    [
        "    security_opt: ['seccomp=unconfined']\n",
        "    security_opt: ['apparmor=unconfined']\n",
        "    security_opt: ['label=disable']\n",
        "    security_opt: ['no-new-privileges:false']\n",
        "    sysctls: {kernel.core_pattern: '|/tmp/x'}\n",
    ],
)
def test_subaccount_cannot_weaken_isolation_with_security_options_or_sysctls(
    operator: User, cluster: Cluster, extra: str
) -> None:
    status, body = dry_run(operator, cluster, service(extra))
    assert status == 400, body
    assert ("security_opt" in body) or ("sysctls" in body)


@pytest.mark.parametrize(
    "extra",
    [
        "    pid: 'container:victim_web_1'\n",
        "    ipc: 'container:victim_web_1'\n",
        "    network_mode: 'container:victim_web_1'\n",
        "    volumes_from: ['container:victim_web_1']\n",
        "    pid: 'container:3f1c2a'\n",  # an id prefix names any container of the node
    ],
)
def test_subaccount_cannot_join_another_applications_container(
    owner: User, operator: User, cluster: Cluster, extra: str
) -> None:
    Application.objects.create(tenant=owner.tenant, cluster=cluster, name="victim", created_by=owner)
    status, body = dry_run(operator, cluster, service(extra))
    assert status == 400, body
    assert "not a container of this application" in body
    # Its own application's containers and services may be joined.
    text = service("    ipc: shareable\n") + (
        "  sidecar:\n    image: local/busybox:1\n    command: sleep 3600\n"
        "    pid: 'container:probe_web_1'\n    ipc: 'service:web'\n"
    )
    status, body = dry_run(operator, cluster, text)
    assert status == 200, body


def test_subaccount_cannot_bind_a_path_below_an_allowed_directory(
    owner: User, operator: User, cluster: Cluster
) -> None:
    cluster.security_policy = {"bind_allow": ["/srv/shared", "/srv/shared/inner"]}
    cluster.save()
    for source in ("/srv/shared/link", "/srv/shared/a/b", "/srv/shared/inner"):
        status, body = dry_run(operator, cluster, service(f"    volumes: ['{source}:/peek:ro']\n"))
        assert status == 400, (source, body)
        assert "volumes[0]" in body
    status, body = dry_run(operator, cluster, service("    volumes: ['/srv/shared:/data']\n"))
    assert status == 200, body


def test_subaccount_ports_bind_to_the_nodes_publish_address_only(owner: User, operator: User, cluster: Cluster) -> None:
    for port in ("0.0.0.0:18080:80", "[::]:18080:80"):
        status, body = dry_run(operator, cluster, service(f"    ports: ['{port}']\n"))
        assert status == 400, body
        assert "publish address" in body
    assert dry_run(operator, cluster, service("    ports: ['18080:80']\n"))[0] == 200
    cluster.security_policy = {"allow_host_ip": True}
    cluster.save()
    assert dry_run(operator, cluster, service("    ports: ['0.0.0.0:18080:80']\n"))[0] == 200


def _primary_privileged_app(owner: User, cluster: Cluster) -> Application:
    text = service("    privileged: true\n")
    response = client_for(owner).post(deploy_url(cluster), {"name": "tool", "compose": text}, format="json")
    assert response.status_code == 202, response.content
    Release.objects.filter(application__name="tool").update(status=Release.Status.SUCCESSFUL)
    return Application.objects.get(name="tool")


def test_subaccount_cannot_scale_out_a_privileged_service_the_primary_account_made(
    owner: User, operator: User, cluster: Cluster
) -> None:
    app = _primary_privileged_app(owner, cluster)
    response = client_for(operator).post(f"{deploy_url(cluster)}/tool/services/web/scale", {"scale": 3}, format="json")
    assert response.status_code == 400, response.content
    assert "privileged" in response.content.decode()
    assert app.services.get().scale == 1 and app.releases.count() == 1


def test_subaccount_cannot_redeploy_or_roll_back_to_what_the_primary_account_made(
    owner: User, operator: User, cluster: Cluster
) -> None:
    app = _primary_privileged_app(owner, cluster)
    redeploy = client_for(operator).post(f"{deploy_url(cluster)}/tool/redeploy", format="json")
    assert redeploy.status_code == 400, redeploy.content
    assert "privileged" in redeploy.content.decode()
    page = Client()
    page.force_login(operator)
    answer = page.post(f"/applications/{app.pk}/redeploy/", follow=True)
    assert answer.status_code == 200 and "privileged" in answer.content.decode()  # the page says why
    assert app.releases.count() == 1
    # The primary account makes a plain version 2; rolling back to its privileged version 1 is refused too.
    update = client_for(owner).patch(f"{deploy_url(cluster)}/tool", {"compose": service("")}, format="json")
    assert update.status_code == 202, update.content
    Release.objects.filter(application=app).update(status=Release.Status.SUCCESSFUL)
    rollback = client_for(operator).post(f"{deploy_url(cluster)}/tool/rollback", {"version": 1}, format="json")
    assert rollback.status_code == 400, rollback.content
    assert app.releases.count() == 2
