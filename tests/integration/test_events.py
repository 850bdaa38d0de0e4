"""The engines' events of Berth's containers (issue 15): kept by the watcher, listed per cluster and per application
with filters, and seen only by who may see the application."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts import operations as ram
from accounts.models import User
from apps.models import Application
from clusters.models import Cluster
from observability.models import EngineEvent
from tests import harness
from tests.conftest import PASSWORD
from tests.integration.conftest import wait_release

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

APP = """
services:
  web:
    image: local/busybox:1
    command: sleep 600
    init: true
  crash:
    image: local/busybox:1
    command: sh -c "sleep 2; exit 3"
    restart: "no"
"""


def deploy(api: APIClient, cluster: Cluster, name: str, text: str) -> Application:
    made = api.post(f"/api/v1/clusters/{cluster.pk}/applications", {"name": name, "compose": text}, format="json")
    assert made.status_code == 202, made.content
    assert wait_release(made.json()["id"], 120).status == "successful"
    return Application.objects.get(cluster=cluster, name=name, deleted_at__isnull=True)


def listed(api: APIClient, url: str, **params: str) -> list[dict[str, Any]]:
    answer = api.get(url, params)
    assert answer.status_code == 200, answer.content
    return answer.json()["results"]


def test_the_engines_events_are_kept_filtered_and_shown_to_who_may_see_them(
    api: APIClient, cluster: Cluster, owner: User
) -> None:
    app = deploy(api, cluster, "ev", APP)
    other = deploy(api, cluster, "other", APP.split("  crash:")[0])
    died = harness.wait_until(
        lambda: EngineEvent.objects.filter(application=app, action="died").first(), 30, 0.3, "crash to die"
    )
    assert died.exit_code == 3 and died.container == "ev_crash_1" and died.service == "crash"
    assert died.node_name == cluster.nodes.get().name
    seen = list(EngineEvent.objects.filter(application=app, container="ev_crash_1").order_by("at", "id"))
    actions = [e.action for e in seen]
    assert actions.index("created") < actions.index("started") < actions.index("died"), actions

    base = f"/api/v1/clusters/{cluster.pk}"
    mine = listed(api, f"{base}/applications/ev/events")
    assert {"created", "started", "died"} <= {e["action"] for e in mine}
    assert all(e["application"] == "ev" for e in mine)
    only_died = listed(api, f"{base}/applications/ev/events", action="died")
    assert [(e["container"], e["exit_code"]) for e in only_died] == [("ev_crash_1", 3)]
    assert listed(api, f"{base}/events", container="other_web") and all(
        e["application"] == "other" for e in listed(api, f"{base}/events", container="other_web")
    )
    assert listed(api, f"{base}/events", since="2999-01-01T00:00:00Z") == []

    # Bad filters: a clear 400 naming the parameter.
    for params, field in (
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-12-02T10:00:00Z", "until": "2026-12-01T10:00:00Z"}, "until"),
        ({"action": "exploded"}, "action"),
        ({"container": "x" * 201}, "container"),
    ):
        refused = api.get(f"{base}/events", params)
        assert refused.status_code == 400 and field in refused.json(), (params, refused.content)

    # A sub-account denied "other" sees only ev's events, in the API and on the page; another tenant sees nothing.
    viewer = ram.create_subaccount(owner, name="viewer", password=PASSWORD)
    document = {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": "cs:Describe*", "Resource": "*"},
            {"Effect": "Deny", "Action": "cs:*", "Resource": [other.resource_name, f"{other.resource_name}/*"]},
        ],
    }
    ram.attach_policy(owner, ram.create_policy(owner, name="not-other", document=document), user=viewer)
    as_viewer = APIClient()
    as_viewer.force_authenticate(User.objects.get(pk=viewer.pk))
    theirs = listed(as_viewer, f"{base}/events")
    assert theirs and {e["application"] for e in theirs} == {"ev"}
    assert as_viewer.get(f"{base}/applications/other/events").status_code == 404
    client = harness_login(viewer)
    page = client.get(f"/clusters/{cluster.pk}/events/")
    assert page.status_code == 200 and b"ev_crash_1" in page.content and b"other_web_1" not in page.content
    assert client.get(f"/applications/{other.pk}/events/").status_code == 404
    bad = client.get(f"/clusters/{cluster.pk}/events/", {"since": "soon"})
    assert bad.status_code == 400 and b"since" in bad.content

    stranger = ram_stranger()
    as_stranger = APIClient()
    as_stranger.force_authenticate(stranger)
    assert as_stranger.get(f"{base}/events").status_code == 404
    assert as_stranger.get(f"{base}/applications/ev/events").status_code == 404


def harness_login(user: User) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(User.objects.get(pk=user.pk))
    return client


def ram_stranger() -> User:
    from tests.conftest import make_tenant

    return make_tenant("globex")


def test_a_scale_down_stops_its_containers_gracefully_before_removing_them(api: APIClient, cluster: Cluster) -> None:
    """The engine is asked to stop them (TERM, then KILL after the grace period), not to kill them at once."""
    two = "services:\n  w:\n    image: local/busybox:1\n    init: true\n    command: sleep 600\n    scale: 2\n"
    app = deploy(api, cluster, "down", two)
    scaled = api.post(f"/api/v1/clusters/{cluster.pk}/applications/down/services/w/scale", {"scale": 1}, format="json")
    assert scaled.status_code == 202, scaled.content
    assert wait_release(scaled.json()["id"], 60).status == "successful"
    seen = harness.wait_until(
        lambda: (
            list(
                EngineEvent.objects.filter(application=app, container="down_w_2", action__in=["killed", "died"])
                .order_by("at", "id")
                .values_list("action", "detail", "exit_code")
            )
            or None
        ),
        20,
        0.3,
        "the removed container's events",
    )
    assert seen[0] == ("killed", "signal 15", None), seen  # TERM first: the init process ends sleep, exit 143
    assert ("died", "", 143) in seen, seen
