"""The append-only operation log never keeps a secret (issue 9, item 9): deploys log the names of variables
and environment entries, never their values, and the writer itself drops values under variable-like keys
and masks credentials in URLs and ``SECRET=value`` text, whatever an operation passes it."""

from __future__ import annotations

import pytest

from accounts.models import User
from apps.models import Release
from clusters.models import Cluster
from console import audit
from console.models import OperationLog
from tests.security.app_world import client_for, deploy_url, make_cluster, subaccount

pytestmark = pytest.mark.django_db

VALUES = ("pg-pass-5150", "dbpass-5151", "smtp-pass-5152", "hello-5153")


@pytest.fixture
def cluster(owner: User) -> Cluster:
    return make_cluster(owner)


def test_read_only_subaccount_cannot_read_deploy_variables_in_the_operation_log(owner: User, cluster: Cluster) -> None:
    api = client_for(owner)
    image_app = {
        "name": "billing",
        "image": "local/busybox:1",
        "environment": {
            "DATABASE_URL": "postgres://billing:pg-pass-5150@db:5432/billing",
            "DB_PASS": "dbpass-5151",
            "SMTP_LOGIN": "mailer:smtp-pass-5152",
        },
    }
    assert api.post(deploy_url(cluster), image_app, format="json").status_code == 202
    compose = "services:\n  web:\n    image: local/busybox:1\n    environment: ['GREETING=${GREETING}']\n"
    body = {"name": "shop", "compose": compose, "variables": {"GREETING": "hello-5153"}}
    assert api.post(deploy_url(cluster), body, format="json").status_code == 202
    Release.objects.update(status=Release.Status.SUCCESSFUL)
    update = api.patch(f"{deploy_url(cluster)}/shop", {"variables": {"GREETING": "hello-5153"}}, format="json")
    assert update.status_code == 202

    reader = subaccount(owner, "auditor", cluster, "read-only")
    response = client_for(reader).get("/api/v1/operation-logs")
    assert response.status_code == 200
    text = response.content.decode()
    assert "billing" in text and "DATABASE_URL" in text and "GREETING" in text  # what happened, and to what
    for value in VALUES:
        assert value not in text
        assert value not in str(list(OperationLog.objects.values_list("parameters", "error")))


def test_the_audit_writer_keeps_only_names_of_variables_and_masks_credentials(owner: User) -> None:
    entry = audit.record(
        "cs:Anything",
        actor=owner,
        parameters={
            "variables": {"GREETING": "hello-5153"},
            "env": ["DB_PASS=dbpass-5151"],
            "nested": {"environment": {"SMTP_LOGIN": "smtp-pass-5152"}},
            "note": "restored postgres://billing:pg-pass-5150@db/billing",
        },
        outcome=OperationLog.Outcome.FAILURE,
        error="could not connect to redis://:pg-pass-5150@cache:6379/0 with DB_PASS=dbpass-5151",
    )
    entry.refresh_from_db()
    stored = f"{entry.parameters} {entry.error}"
    for value in VALUES:
        assert value not in stored
    assert entry.parameters["variables"] == ["GREETING"] and entry.parameters["env"] == ["DB_PASS"]
    assert "postgres://billing:****@db/billing" in entry.parameters["note"]
    assert audit.verify_chain(owner.tenant) is None  # hashed as written
