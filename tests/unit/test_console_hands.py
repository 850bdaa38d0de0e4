"""A console that holds up in a user's hands (issue 11, the newcomer's walk): readable link buttons, error pages
that fit the request and lead back somewhere useful, controls that say why they are off, summaries that name
their services, pull failures that say what happened without the machine's addresses, one way to write a time,
one target per operation, pager links without a stray "&"."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from docker.errors import APIError

from accounts import operations as ram
from accounts.models import AccessKey, User
from accounts.templatetags.berth import when_text
from apps import converge, operations, releases
from apps.models import AppVersion, ReleaseEvent, Service
from apps.releases import Run
from clusters import docker_host as host
from console.models import OperationLog
from tests.personas import World, build_world


@pytest.fixture
def world(db: None) -> World:
    return build_world()


def browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def body(response: Any, status: int = 200) -> str:
    assert response.status_code == status, response.status_code
    return response.content.decode()


# --- 1. link-styled buttons -------------------------------------------------------------------------


def test_link_styled_buttons_are_white_only_on_the_dark_top_bar() -> None:
    css = (Path(settings.BASE_DIR) / "static" / "css" / "berth.css").read_text()
    for selectors, rules in re.findall(r"([^{}]+)\{([^}]*)\}", css):
        for selector in selectors.split(","):
            if "button.link" in selector and re.search(r"(^|;)\s*color:\s*#fff", rules):
                assert selector.strip().startswith(".topbar"), f"{selector.strip()} makes Copy white on white"


# --- 2. the 405 page fits the method ----------------------------------------------------------------------


def test_a_post_to_a_page_is_told_it_is_a_page_and_a_get_to_a_button_is_told_it_is_a_target(world: World) -> None:
    client = browser(world.owner)
    for path in ("/operation-logs/", "/clusters/nodes/"):
        page = body(client.post(path), 405)
        assert 'data-testid="page-not-target"' in page and "This page does not take POST" in page
        assert "target of a button or form" not in page
        assert f'href="{path}" data-testid="open-page"' in page
    app = world.apps["a"]
    target = body(client.get(f"/applications/{app.pk}/stop/"), 405)
    assert 'data-testid="target-not-page"' in target and "does not answer GET" in target
    assert "This page does not take" not in target


# --- 4. refusals lead back, and say who grants what ----------------------------------------------------


def test_a_refused_page_about_an_object_the_user_may_see_leads_back_to_it(world: World) -> None:
    app = world.apps["a"]
    refused = body(browser(world.reader).get(f"/applications/{app.pk}/update/"), 403)
    assert f'href="/applications/{app.pk}/" data-testid="way-back">Back to {app.name}<' in refused
    assert "role on the cluster" in refused  # a cs: action: a policy, or a role on the cluster


def test_a_refused_ram_action_says_who_grants_ram_actions(world: World) -> None:
    refused = body(browser(world.reader).get("/ram/simulator/"), 403)
    hint = refused[refused.index('data-testid="grant-hint"') :]
    hint = hint[: hint.index("</p>")]
    assert "ram:SimulatePolicy" in hint and "primary account or a RAM administrator" in hint
    assert "cluster" not in hint


def test_deploying_a_template_without_a_cluster_that_allows_it_says_so_not_that_there_is_none(world: World) -> None:
    page = body(browser(world.reader).get("/templates/sample/web-db/deploy/"))
    assert 'data-testid="may-not-deploy"' in page and "You may not deploy to any cluster" in page
    assert "There is no cluster you may deploy to yet." not in page
    assert "primary account or a RAM administrator grants it" in page
    refused = body(browser(world.reader).get("/applications/new/"), 403)  # the image form: refused, back to the list
    assert 'href="/applications/" data-testid="way-back">Back to the list<' in refused


# --- 5. the access key maximum ---------------------------------------------------------------------------


def test_create_access_key_is_disabled_with_the_reason_once_the_user_holds_the_maximum(world: World) -> None:
    client = browser(world.owner)
    page = body(client.get("/account/"))
    button = re.search(r'<button[^>]*data-testid="create-key"[^>]*>', page)
    assert button and "disabled" not in button.group(0)
    for _ in range(AccessKey.MAX_PER_USER):
        ram.create_access_key(world.owner, world.owner)
    page = body(client.get("/account/"))
    button = re.search(r'<button[^>]*data-testid="create-key"[^>]*>', page)
    assert button and "disabled" in button.group(0)
    assert 'data-testid="key-limit"' in page and "A user holds at most 2 access keys" in page


# --- 6. the summary names its services --------------------------------------------------------------------


def test_the_summary_of_a_multi_service_application_names_each_service(world: World) -> None:
    app = world.apps["a"]
    Service.objects.create(application=app, name="db", image="local/busybox:2", scale=2, container_port=5432)
    page = body(browser(world.owner).get(f"/applications/{app.pk}/"))
    summary = page[page.index('id="app-summary"') :]
    text = re.sub(r"<[^>]+>", "", summary[: summary.index("</p>")])
    text = re.sub(r"\s+", " ", text)
    assert f"{app.name}: local/busybox:1 × 1" in text and "db: local/busybox:2 × 2, port 5432" in text
    assert "container(s)" not in text


# --- 7. pull failures say what happened, not the machine's resolver ----------------------------------------


RESOLVER_ERROR = (
    'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: '
    "server misbehaving"
)


def test_a_pull_the_registry_could_not_answer_says_so_without_the_machines_addresses() -> None:
    reason = host.pull_reason("local/busybox:1", APIError("500 Server Error", explanation=RESOLVER_ERROR))
    assert reason == "the registry docker.io could not be reached"
    missing = host.pull_reason("local/busybox:1", APIError("404", explanation="manifest unknown"))
    assert "10.255" not in missing and "docker.io" in missing


def test_a_pull_that_failed_while_the_node_has_the_image_is_told_as_what_happened(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_pull(*args: Any, **kwargs: Any) -> None:
        raise host.ImageNotPulled("local/busybox:1", host.pull_reason("local/busybox:1", APIError(RESOLVER_ERROR)))

    monkeypatch.setattr(host.Endpoint, "of", lambda *args, **kwargs: None)  # no engine: only the pull is asked
    monkeypatch.setattr(host, "pull_image", failing_pull)
    monkeypatch.setattr(host, "image_present", lambda endpoint, image: True)
    monkeypatch.setattr(host, "ensure_network", lambda *args, **kwargs: None)
    monkeypatch.setattr(host, "ensure_volume", lambda *args, **kwargs: None)
    app = world.apps["a"]
    node = app.cluster.nodes.get()
    pulls = converge.prepare_node(node, app, list(app.services.all()), pull=True)
    assert [p.error for p in pulls] == ["the registry docker.io could not be reached"]
    run = Run(world.releases["a"])
    releases._pull_events(run, node, pulls)
    message = ReleaseEvent.objects.filter(application=app).latest("id").message
    assert "is not on the node" not in message and "10.255" not in message
    assert message.startswith("Could not pull local/busybox:1 on node-a (the registry docker.io could not be reached)")

    monkeypatch.setattr(host, "image_present", lambda endpoint, image: False)
    with pytest.raises(host.HostError) as failure:
        converge.prepare_node(node, app, list(app.services.all()), pull=True)
    assert str(failure.value) == (
        "local/busybox:1 is not on node-a and could not be pulled: the registry docker.io could not be reached"
    )


# --- 8. one way to write a time --------------------------------------------------------------------------


def test_a_time_of_today_shows_the_time_and_any_other_the_date_too() -> None:
    now = timezone.now().replace(hour=12)
    assert re.fullmatch(r"\d\d:\d\d:\d\d", when_text(now - timedelta(hours=1), now))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", when_text(now - timedelta(days=2), now))


def test_pages_write_times_one_way_and_name_the_time_zone_once(world: World) -> None:
    from clusters.models import Node

    node = Node.objects.get(cluster=world.cluster_a)
    Node.objects.filter(pk=node.pk).update(last_seen_at=timezone.now() - timedelta(days=3))
    client = browser(world.owner)
    detail = body(client.get(f"/clusters/nodes/{node.pk}/"))
    listed = body(client.get("/clusters/nodes/"))
    stamp = re.compile(rf'data-node-seen="{node.pk}"><time datetime="[^"]+Z" title="[^"]+ UTC">([^<]+)</time>')
    assert stamp.search(detail) and stamp.search(listed)
    assert stamp.search(detail).group(1) == stamp.search(listed).group(1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", stamp.search(listed).group(1))
    assert detail.count('data-testid="time-zone"') == 1 and "Times are in UTC" in detail


def test_the_csv_and_json_exports_write_the_same_time(world: World) -> None:
    client = browser(world.owner)
    rows = list(csv.DictReader(io.StringIO(client.get("/operation-logs/", {"export": "csv"}).content.decode())))
    entries = json.loads(client.get("/operation-logs/", {"export": "json"}).content)
    assert rows and [r["created_at"] for r in rows] == [e["created_at"] for e in entries]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", r["created_at"]) for r in rows)


# --- 9. one target per operation ---------------------------------------------------------------------------


def test_a_scale_is_logged_under_one_target_when_accepted_and_when_done(world: World) -> None:
    app = world.apps["a"]
    release = operations.scale_service(world.owner, app, app.name, 2)
    accepted = OperationLog.objects.filter(action="cs:ScaleService").latest("id")
    assert accepted.parameters["service"] == app.name
    assert accepted.target == Run(release).log_entry()["target"] == app.name


# --- 10. small layout and wording ----------------------------------------------------------------------------


def test_pager_links_carry_no_stray_ampersand(world: World) -> None:
    from console import audit

    for n in range(60):
        audit.record("cs:Nothing", actor=world.owner, target=f"t{n}")
    page = body(browser(world.owner).get("/operation-logs/"))
    assert "?&amp;" not in page and "?&" not in page
    assert 'href="?page=2"' in page and 'href="?export=csv"' in page
    filtered = body(browser(world.owner).get("/operation-logs/", {"action": "cs:Nothing", "q": ""}))
    assert 'href="?action=cs%3ANothing&amp;page=2"' in filtered


def test_a_policy_already_attached_is_not_offered_again(world: World) -> None:
    page = body(browser(world.owner).get("/ram/users/denied/"))
    choices = re.findall(r'<option value="([^"]+)"', page[page.index('name="policy"') :])
    assert "all-but-a" not in choices


def test_the_update_page_has_a_cancel_back_to_the_application(world: World) -> None:
    app = world.apps["a"]
    AppVersion.objects.create(application=app, number=1, compose="services:\n  web:\n    image: local/busybox:1\n")
    page = body(browser(world.owner).get(f"/applications/{app.pk}/update/"))
    assert f'href="/applications/{app.pk}/" data-testid="cancel"' in page


def test_application_and_container_pages_carry_what_the_live_script_shows_when_they_go(world: World) -> None:
    app = world.apps["a"]
    page = body(browser(world.owner).get(f"/applications/{app.pk}/"))
    assert 'data-gone="This application is gone."' in page and "data-wanted" in page
    container = body(browser(world.owner).get(f"/applications/{app.pk}/containers/{app.name}_{app.name}_1/"))
    assert 'data-live-type="container"' in container and 'data-testid="app-gone"' in container
    assert 'data-testid="container-gone"' in container and 'id="live-state"' in container
