"""Config-set secrets are never disclosed (issue 9, item 8): not by an error that echoes an interpolated value
(dry run or operation log), not by a release's events or error, and using a config set is a permission of
its own."""

from __future__ import annotations

import pytest

from accounts.models import User
from apps import releases
from apps.models import Application, ConfigSet, Release, ReleaseEvent
from clusters.models import Cluster
from console.models import OperationLog
from tests.security.app_world import client_for, deploy_url, make_cluster, subaccount

pytestmark = pytest.mark.django_db

SECRET = "Sealed-Value-6590"
LEAKY = 'services:\n  web:\n    image: "local/${DB_PASSWORD}:1"\n    command: sleep 3600\n'


@pytest.fixture
def cluster(owner: User) -> Cluster:
    return make_cluster(owner)


@pytest.fixture
def config_set(owner: User) -> ConfigSet:
    response = client_for(owner).post(
        "/api/v1/config-sets",
        {"name": "prod", "variables": {"DB_PASSWORD": {"value": SECRET, "secret": True}}},
        format="json",
    )
    assert response.status_code == 201
    return ConfigSet.objects.get(name="prod")


def test_a_dry_run_error_does_not_echo_a_config_set_secret(
    owner: User, cluster: Cluster, config_set: ConfigSet
) -> None:
    body = {"name": "leak", "compose": LEAKY, "config_set": "prod"}
    response = client_for(owner).post(deploy_url(cluster) + "?dry_run=true", body, format="json")
    assert response.status_code == 400
    text = response.content.decode()
    assert SECRET not in text and SECRET.lower() not in text
    assert "local/****:1" in text and "not a valid image reference" in text


def test_a_failed_deploy_keeps_no_config_set_secret_in_the_operation_log(
    owner: User, cluster: Cluster, config_set: ConfigSet
) -> None:
    body = {"name": "leak", "compose": LEAKY, "config_set": "prod"}
    assert client_for(owner).post(deploy_url(cluster), body, format="json").status_code == 400
    entry = OperationLog.objects.get(action="cs:CreateApplication", outcome="failure")
    assert SECRET not in entry.error and "local/****:1" in entry.error
    assert SECRET not in str(OperationLog.objects.values_list("parameters", "error"))


def test_deploying_with_a_config_set_needs_the_use_config_set_permission(
    owner: User, cluster: Cluster, config_set: ConfigSet
) -> None:
    see_only = [{"Effect": "Allow", "Action": "cs:DescribeConfigSets", "Resource": "*"}]
    dev = subaccount(owner, "dev", cluster, "operator", see_only)
    text = "services:\n  web:\n    image: local/busybox:1\n    command: [sh, -c, 'echo ${DB_PASSWORD}']\n"
    body = {"name": "exfil", "compose": text, "config_set": "prod"}
    for suffix in ("?dry_run=true", ""):
        response = client_for(dev).post(deploy_url(cluster) + suffix, body, format="json")
        assert response.status_code == 403, response.content
    assert not Application.objects.filter(name="exfil").exists()
    allowed = subaccount(
        owner,
        "dev2",
        cluster,
        "operator",
        [*see_only, {"Effect": "Allow", "Action": "cs:UseConfigSet", "Resource": "*"}],
    )
    assert client_for(allowed).post(deploy_url(cluster), body, format="json").status_code == 202
    # Changing the text of an application that uses the config set is using it again.
    Release.objects.update(status=Release.Status.SUCCESSFUL)
    patch = client_for(dev).patch(
        f"{deploy_url(cluster)}/exfil", {"compose": text.replace("echo", "printf")}, format="json"
    )
    assert patch.status_code == 403, patch.content


def test_release_events_and_errors_do_not_carry_config_set_secrets(
    owner: User, cluster: Cluster, config_set: ConfigSet
) -> None:
    text = 'services:\n  web:\n    image: "local/busybox:1"\n    command: [echo, "${DB_PASSWORD}"]\n'
    body = {"name": "app", "compose": text, "config_set": "prod"}
    response = client_for(owner).post(deploy_url(cluster), body, format="json")
    assert response.status_code == 202
    release = Release.objects.get(pk=response.json()["id"])
    Release.objects.filter(pk=release.pk).update(status=Release.Status.RUNNING)
    release.refresh_from_db()
    run = releases.Run(release)
    run.event(f"app_web_1 failed: exec echo {SECRET}: no such file")  # what Docker answers echoes the command
    run.finish(Release.Status.FAILED, f"app_web_1: container exited: {SECRET}; redis://u:pw-77@r/0")
    release.refresh_from_db()
    events = " ".join(ReleaseEvent.objects.filter(release=release).values_list("message", flat=True))
    logged = OperationLog.objects.filter(action="cs:CreateApplication").order_by("-seq").first()
    for shown in (events, release.error, logged.error):
        assert SECRET not in shown and "pw-77" not in shown
    assert "****" in release.error
