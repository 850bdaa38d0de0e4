"""A newcomer's first hour with the console (issue 11, "a console that holds up in a user's hands"): what the
walk found, each proved on the real code paths (runner and publisher, Django test client, operations)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AccessKey, User
from apps import operations, releases
from apps.models import Application, AppVersion, Container, Release
from clusters.models import Cluster
from console import live, work
from console.audit import OperationLog
from console.cli import plan_lines
from tests.personas import World, build_world


@pytest.mark.django_db
def test_a_deleted_application_page_hears_delete_successful_before_the_application_goes(
    owner: User, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    """The page stops listening when it hears the application is deleted: the release's final state and its
    "Delete finished." line come first, so the page ends showing "delete successful"."""
    cluster = Cluster.objects.create(tenant=owner.tenant, name="c1")
    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="web", created_by=owner)
    release = Release.objects.create(application=app, kind=Release.Kind.DELETE, actor=owner)
    monkeypatch.setitem(releases.RUNNERS, Release.Kind.DELETE, lambda run: None)
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(live.publisher, "send", lambda group, payload: sent.append(payload))
    monkeypatch.setattr(live.publisher, "send_batch", lambda group, payloads: sent.extend(payloads))
    with django_capture_on_commit_callbacks(execute=True):
        assert work.execute(releases.Run, release.pk) == Release.Status.SUCCESSFUL
    gone = next(i for i, p in enumerate(sent) if p["type"] == "application" and p["status"] == "deleted")
    before = sent[:gone]
    assert any(p["type"] == "release" and p["status"] == "successful" for p in before)
    assert any(p["type"] == "event" and p["message"] == "Delete finished." for p in before)
    Application.objects.get(pk=app.pk, status=Application.Status.DELETED, deleted_at__isnull=False)


# --- pages and API for the personas of tests/personas.py --------------------------------------------


@pytest.fixture
def world(db: None) -> World:
    return build_world()


def browser(user: User, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def api(user: User) -> APIClient:
    key, secret = AccessKey.objects.issue(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.key_id}:{secret}")
    return client


def entries(user: User, **match: Any) -> list[OperationLog]:
    return list(OperationLog.objects.filter(tenant=user.tenant, **match))


def test_a_csrf_failure_shows_the_console_page_with_a_way_back_and_is_not_logged_as_a_refusal(world: World) -> None:
    app = world.apps["a"]
    before = OperationLog.objects.count()
    response = browser(world.owner, csrf=True).post(
        f"/applications/{app.pk}/restart/", HTTP_REFERER=f"http://testserver/applications/{app.pk}/"
    )
    assert response.status_code == 403
    page = response.content.decode()
    assert "This form has expired (the page was open too long or you signed in again elsewhere)" in page
    assert "CSRF verification failed" not in page
    assert f'href="/applications/{app.pk}/" data-testid="way-back"' in page
    assert 'href="/applications/"' in page  # the console's navigation
    assert OperationLog.objects.count() == before  # neither "denied cs:RestartApplication" nor anything else
    assert not entries(world.owner, outcome=OperationLog.Outcome.DENIED)


def test_a_csrf_failure_from_another_site_leads_back_to_the_overview_only(world: World) -> None:
    app = world.apps["a"]
    response = browser(world.owner, csrf=True).post(
        f"/applications/{app.pk}/restart/", HTTP_REFERER="https://evil.example/applications/1/"
    )
    assert response.status_code == 403
    page = response.content.decode()
    assert "This form has expired" in page and 'data-testid="way-back"' not in page


def test_the_primary_accounts_404_of_what_does_not_exist_is_not_a_refusal(world: World) -> None:
    app = world.apps["a"]
    client = browser(world.owner)
    assert client.get(f"/applications/{app.pk}/containers/nothing_here_1/").status_code == 404
    assert client.get("/applications/999999/").status_code == 404
    Application.objects.filter(pk=app.pk).update(deleted_at=timezone.now(), status=Application.Status.DELETED)
    assert client.get(f"/applications/{app.pk}/").status_code == 404  # reopening a deleted application
    assert not entries(world.owner, outcome=OperationLog.Outcome.DENIED)


def test_another_tenants_object_leaves_the_trace_of_one_that_exists_nowhere(world: World) -> None:
    # Its existence is never revealed, not even by what the caller's own log keeps (tests/security/
    # test_tenant_existence_hidden.py): both are the same unrecorded 404.
    theirs = world.apps["c"]
    assert browser(world.owner).get(f"/applications/{theirs.pk}/").status_code == 404
    assert browser(world.owner).get("/applications/999999/").status_code == 404
    assert not entries(world.owner, outcome=OperationLog.Outcome.DENIED)


def test_a_read_only_subaccount_is_told_403_about_its_own_user_on_the_page_as_by_the_api(world: World) -> None:
    reader = world.reader
    response = browser(reader).get(f"/ram/users/{reader.name}/")
    assert response.status_code == 403  # not the 404 "nothing here" that hid what it knows is there
    page = response.content.decode()
    assert 'href="/account/" data-testid="way-back"' in page and "Go to My account" in page
    assert api(reader).get(f"/api/v1/ram/users/{reader.name}").status_code == 403
    refused = entries(reader, outcome=OperationLog.Outcome.DENIED, action="ram:GetUser")
    assert [e.parameters["status"] for e in refused] == [403, 403]


def test_another_users_page_stays_hidden_from_a_read_only_subaccount(world: World) -> None:
    assert browser(world.reader).get(f"/ram/users/{world.denied.name}/").status_code == 404


# --- an update that changes nothing ----------------------------------------------------------------


COMPOSE = "services:\n  app-a:\n    image: local/busybox:1\n"


def _deployed(world: World) -> Application:
    """Application "a" as a deploy of COMPOSE left it: version 1, its container on its node."""
    app = world.apps["a"]
    AppVersion.objects.create(application=app, number=1, compose=COMPOSE)
    Container.objects.filter(service__application=app).update(docker_id="d0c4e7")
    return app


def _nothing_made(app: Application) -> None:
    assert list(app.versions.values_list("number", flat=True)) == [1]
    assert not Release.objects.filter(application=app, kind=Release.Kind.UPDATE).exists()
    assert not OperationLog.objects.filter(action="cs:UpdateApplication").exists()


def test_an_unchanged_update_plan_says_nothing_changes_and_offers_no_apply(world: World) -> None:
    app = _deployed(world)
    client = browser(world.owner)
    response = client.post(f"/applications/{app.pk}/update/", {"compose": COMPOSE, "variables": "", "confirm": "0"})
    page = response.content.decode()
    assert response.status_code == 200 and 'data-testid="nothing-changes"' in page
    assert 'data-testid="apply"' not in page
    response = client.post(f"/applications/{app.pk}/update/", {"compose": COMPOSE, "variables": "", "confirm": "1"})
    assert response.status_code == 200 and "Nothing to change" in response.content.decode()
    _nothing_made(app)


def test_an_unchanged_update_through_the_api_is_a_400_that_makes_nothing(world: World) -> None:
    app = _deployed(world)
    url = f"/api/v1/clusters/{app.cluster_id}/applications/{app.name}"
    plan = api(world.owner).patch(f"{url}?dry_run=true", {"compose": COMPOSE}, format="json")
    assert plan.status_code == 200 and plan.json()["nothing_changes"] is True
    response = api(world.owner).patch(url, {"compose": COMPOSE}, format="json")
    assert response.status_code == 400
    assert "Nothing to change" in response.json()["detail"][0]
    _nothing_made(app)


def test_an_update_that_changes_the_scale_still_makes_a_version(world: World) -> None:
    app = _deployed(world)
    scaled = COMPOSE + "    deploy:\n      replicas: 2\n"
    plan = operations.update_application(world.owner, app, compose=scaled, dry_run=True)
    assert plan["nothing_changes"] is False
    with pytest.raises(operations.NothingToChange):
        operations.update_application(world.owner, app, compose=COMPOSE)


def test_the_cli_plan_of_an_unchanged_update_says_nothing_changes(world: World) -> None:
    app = _deployed(world)
    url = f"/api/v1/clusters/{app.cluster_id}/applications/{app.name}?dry_run=true"
    plan = api(world.owner).patch(url, {"compose": COMPOSE}, format="json").json()
    assert plan_lines(plan)[-1] == "  nothing changes: this is the current version, and applying it is refused"
