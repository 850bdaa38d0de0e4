"""Starting an application makes containers too (review F12): ``start`` recreates containers that vanished, so a
sub-account with cs:RemoveContainer and cs:StartApplication could remove a container of the primary account's
privileged application and have ``start`` make a new privileged one. The policy holds for ``start`` as for a
scale or a redeploy, in the operation (400, nothing queued) and in the release itself (no container made)."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from apps import releases
from apps.models import Application, Release
from clusters.models import Cluster
from tests.security.app_world import client_for, deploy_url, make_cluster, subaccount

pytestmark = pytest.mark.django_db

PRIVILEGED = "services:\n  web:\n    image: local/busybox:1\n    command: sleep 3600\n    privileged: true\n"


@pytest.fixture
def cluster(owner: User) -> Cluster:
    return make_cluster(owner)


@pytest.fixture
def starter(owner: User, cluster: Cluster) -> User:
    """A sub-account that may see applications, remove their containers and start them: nothing more."""
    actions = ["cs:DescribeClusters", "cs:DescribeApplications", "cs:RemoveContainer", "cs:StartApplication"]
    return subaccount(owner, "starter", statements=[{"Effect": "Allow", "Action": actions, "Resource": "*"}])


@pytest.fixture
def tool(owner: User, cluster: Cluster) -> Application:
    """The primary account's privileged application, deployed (its release done)."""
    response = client_for(owner).post(deploy_url(cluster), {"name": "tool", "compose": PRIVILEGED}, format="json")
    assert response.status_code == 202, response.content
    Release.objects.filter(application__name="tool").update(status=Release.Status.SUCCESSFUL)
    return Application.objects.get(name="tool")


def test_subaccount_cannot_start_and_so_recreate_a_privileged_container_the_primary_account_made(
    starter: User, tool: Application, cluster: Cluster
) -> None:
    response = client_for(starter).post(f"{deploy_url(cluster)}/tool/start", format="json")
    assert response.status_code == 400, response.content
    assert "privileged" in response.content.decode()
    page = Client()
    page.force_login(starter)
    answer = page.post(f"/applications/{tool.pk}/start/", follow=True)
    assert answer.status_code == 200 and "privileged" in answer.content.decode()  # the page says why
    assert tool.releases.count() == 1  # nothing was queued


def test_a_start_release_of_a_subaccount_makes_no_container_its_policy_forbids(
    starter: User, tool: Application
) -> None:
    # However the release was queued, carrying it out checks the policy before any container is made.
    release = Release.objects.create(application=tool, kind=Release.Kind.START, actor=starter)
    assert releases.execute(release.pk) == Release.Status.FAILED
    release.refresh_from_db()
    assert "privileged" in release.error
    assert not tool.services.get().containers.exists()


def test_the_primary_account_may_still_start_its_privileged_application(owner: User, tool: Application) -> None:
    response = client_for(owner).post(f"{deploy_url(tool.cluster)}/tool/start", format="json")
    assert response.status_code == 202, response.content
