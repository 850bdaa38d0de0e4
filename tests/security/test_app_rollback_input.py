"""A malformed rollback request is a clear 400, never a server error (issue 9, low)."""

from __future__ import annotations

import pytest

from accounts.models import User
from apps.models import Application, Release
from tests.security.app_world import client_for, deploy_url, make_cluster

pytestmark = pytest.mark.django_db

TEXT = "services:\n  web:\n    image: local/busybox:1\n    command: sleep 3600\n"


@pytest.mark.parametrize("version", ["abc", "1.5", [2], {"n": 1}])
def test_rollback_with_a_version_that_is_not_a_number_is_a_400(owner: User, version: object) -> None:
    cluster = make_cluster(owner)
    api = client_for(owner)
    assert api.post(deploy_url(cluster), {"name": "shop", "compose": TEXT}, format="json").status_code == 202
    Release.objects.update(status=Release.Status.SUCCESSFUL)
    response = api.post(f"{deploy_url(cluster)}/shop/rollback", {"version": version}, format="json")
    assert response.status_code == 400, response.content
    assert "version" in response.json()
    assert Application.objects.get(name="shop").releases.count() == 1
