"""The permission core and the API/UI doors, with three personas: owner, member (sub-account), outsider."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework.test import APIClient

from accounts.models import AccessKey, User
from accounts.permissions import authorize
from apps.models import Application, Container, Release, Service
from clusters.models import Cluster, Node
from console import audit
from console.models import OperationLog


def make_app(owner: User, name: str = "web") -> Application:
    cluster = Cluster.objects.create(tenant=owner.tenant, name=f"c-{name}")
    node = Node.objects.create(
        cluster=cluster,
        name="n1",
        endpoint=f"unix:///nonexistent-{name}.sock",
        publish_ip="127.0.0.1",
        state=Node.State.READY,
    )
    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name=name, status="running")
    service = Service.objects.create(application=app, name=name, image="local/busybox:1", scale=2)
    for i in (1, 2):
        Container.objects.create(service=service, node=node, index=i, name=f"{name}_{name}_{i}", state="running")
    Release.objects.create(application=app, kind="deploy", status="successful")
    audit.record("cs:CreateApplication", actor=owner, target=name, cluster_id=cluster.pk)
    return app


def bearer(user: User) -> APIClient:
    key, secret = AccessKey.objects.issue(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.key_id}:{secret}")
    return client


MODELS = [Cluster, Node, Application, Container, Release, OperationLog]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_owner_sees_own_tenant_only(model: type, owner: User, outsider: User) -> None:
    make_app(owner, "mine")
    make_app(outsider, "theirs")
    mine = model.objects.visible_to(owner)
    assert mine.exists()
    assert not mine.filter(**{model.objects.get_queryset().tenant_path: outsider.tenant_id}).exists()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_sub_account_without_policy_sees_nothing(model: type, owner: User, member: User) -> None:
    make_app(owner)
    assert not model.objects.visible_to(member).exists()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_anonymous_sees_nothing(model: type, owner: User) -> None:
    from django.contrib.auth.models import AnonymousUser

    make_app(owner)
    assert not model.objects.visible_to(AnonymousUser()).exists()


def test_authorize_hides_other_tenants_and_forbids_within(owner: User, member: User, outsider: User) -> None:
    app = make_app(owner)
    authorize(owner, "cs:DeleteApplication", app)
    with pytest.raises(Http404):
        authorize(outsider, "cs:DeleteApplication", app)
    with pytest.raises(Http404):  # a sub-account that may not even describe it is not told it exists
        authorize(member, "cs:DeleteApplication", app)
    from accounts import operations as ram

    ram.grant(owner, "user:dev", app.cluster, "read-only")
    member = User.objects.get(pk=member.pk)  # a new request loads the user, and its grants, afresh
    with pytest.raises(PermissionDenied):  # now it may see the application, but not delete it
        authorize(member, "cs:DeleteApplication", app)


def test_api_needs_credentials(owner: User) -> None:
    make_app(owner)
    assert APIClient().get("/api/v1/clusters").status_code in (401, 403)
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer LTAIdoesnotexist:nope")
    assert bad.get("/api/v1/clusters").status_code == 401


def test_access_key_secret_is_checked_and_use_recorded(owner: User) -> None:
    key, secret = AccessKey.objects.issue(owner)
    assert secret not in key.secret_hash
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.key_id}:{secret}x")
    assert client.get("/api/v1/clusters").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.key_id}:{secret}")
    assert client.get("/api/v1/clusters").status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None
    AccessKey.objects.filter(pk=key.pk).update(is_active=False)
    assert client.get("/api/v1/clusters").status_code == 401


def test_other_tenants_objects_are_404_everywhere(owner: User, outsider: User) -> None:
    app = make_app(owner)
    release = app.releases.first()
    client = bearer(outsider)
    base = f"/api/v1/clusters/{app.cluster_id}"
    assert client.get(base).status_code == 404
    assert client.get(f"{base}/applications").status_code == 404
    assert client.get(f"{base}/applications/{app.name}").status_code == 404
    assert client.post(f"{base}/applications/{app.name}/stop").status_code == 404
    assert client.delete(f"{base}/applications/{app.name}").status_code == 404
    assert client.post(f"{base}/applications", {"name": "x", "image": "nginx"}, format="json").status_code == 404
    assert client.get(f"/api/v1/releases/{release.pk}").status_code == 404
    # The outsider's own log holds its refused attempts (one per request), and nothing of the owner's objects.
    own = OperationLog.objects.filter(tenant=outsider.tenant)
    assert own.count() == 7 and set(own.values_list("outcome", flat=True)) == {"denied"}
    assert all(e.resource == "" and e.cluster_id is None for e in own)  # the target is what it asked for
    assert client.get("/api/v1/operation-logs").json()["count"] == 7
    assert not OperationLog.objects.filter(tenant=owner.tenant, actor=outsider).exists()
    assert Release.objects.filter(application=app).count() == 1  # nothing was queued


def test_application_list_query_count_is_flat(owner: User, django_assert_max_num_queries: object) -> None:
    app = make_app(owner, "one")
    for i in range(5):
        extra = Application.objects.create(tenant=owner.tenant, cluster=app.cluster, name=f"more{i}")
        Service.objects.create(application=extra, name="s", image="nginx")
    client = bearer(owner)
    with django_assert_max_num_queries(14):
        response = client.get(f"/api/v1/clusters/{app.cluster_id}/applications")
    assert response.status_code == 200 and len(response.json()["results"]) == 6


def test_unknown_fields_are_refused(owner: User) -> None:
    app = make_app(owner)
    response = bearer(owner).post(
        f"/api/v1/clusters/{app.cluster_id}/applications",
        {"name": "new", "image": "nginx", "privileged": True},
        format="json",
    )
    assert response.status_code == 400 and "privileged" in response.json()
    assert not Application.objects.filter(name="new").exists()


def test_bad_input_is_400_names_the_field_and_is_logged(owner: User) -> None:
    app = make_app(owner)
    client = bearer(owner)
    url = f"/api/v1/clusters/{app.cluster_id}/applications"
    response = client.post(url, {"name": "Not_A_Label", "image": "nginx$(id)", "scale": 0}, format="json")
    assert response.status_code == 400
    assert {"name", "image", "scale"} <= set(response.json())
    assert Application.objects.count() == 1
    entry = OperationLog.objects.filter(action="cs:CreateApplication", outcome="failure").get()
    assert "DNS" in entry.error or "letters" in entry.error


def test_duplicate_name_and_taken_host_port_are_refused(owner: User) -> None:
    app = make_app(owner)
    Service.objects.filter(application=app).update(container_port=80, host_port=18080)
    client = bearer(owner)
    url = f"/api/v1/clusters/{app.cluster_id}/applications"
    assert "name" in client.post(url, {"name": app.name, "image": "nginx"}, format="json").json()
    response = client.post(
        url, {"name": "other", "image": "nginx", "container_port": 80, "host_port": 18080}, format="json"
    )
    assert response.status_code == 400 and "host_port" in response.json()


def test_second_operation_while_one_runs_is_409(owner: User, django_capture_on_commit_callbacks: object) -> None:
    app = make_app(owner)
    Release.objects.create(application=app, kind="restart", status="running")
    response = bearer(owner).post(f"/api/v1/clusters/{app.cluster_id}/applications/{app.name}/stop")
    assert response.status_code == 409
    assert OperationLog.objects.filter(action="cs:StopApplication", outcome="failure").exists()
