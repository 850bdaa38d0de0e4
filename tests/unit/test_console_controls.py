"""What the console shows a user: the controls it may use (decided by the permission door, once), and the rough
edges a newcomer met (issue 11): values that ran together, stray or missing labels, dead forms, plans before
changes, messages that say what happened."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import operations as ram
from accounts.models import User
from accounts.pages import permits
from apps import operations
from apps.models import Application, Container, Release, Service
from clusters.models import Node, UserCertificate
from console.models import OperationLog
from tests.conftest import make_tenant
from tests.personas import World, build_world


@pytest.fixture
def world(db: None) -> World:
    return build_world()


def browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def html(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def form_of(page: str, action: str) -> str:
    """The opening tag of the form posting to ``action`` and everything up to its end."""
    start = page.index(f'action="{action}"')
    start = page.rindex("<form", 0, start)
    return page[start : page.index("</form>", start)]


# --- one door: what the console offers is what the door allows ------------------------------------------


def _requests(world: World) -> list[tuple[str, tuple[Any, ...], str, Any, dict[str, str]]]:
    """(view, URL arguments, method, the object it acts on, form data): requests a page offers as controls."""
    app_a, app_b = world.apps["a"], world.apps["b"]
    node_a = Node.objects.get(cluster=world.cluster_a)
    return [
        ("apps:action", (app_a.pk, "stop"), "POST", app_a, {}),
        ("apps:action", (app_b.pk, "restart"), "POST", app_b, {}),
        ("apps:change", (app_a.pk, "scale"), "POST", app_a, {"service": "x", "scale": "-1"}),
        ("apps:change", (app_b.pk, "scale"), "POST", app_b, {"service": "x", "scale": "-1"}),
        ("apps:update", (app_a.pk,), "GET", app_a, {}),
        ("apps:container_change", (app_a.pk, "app-a_app-a_1", "restart"), "POST", app_a, {}),
        ("clusters:change", (world.cluster_a.pk, "edit"), "POST", world.cluster_a, {}),
        ("clusters:change", (world.cluster_b.pk, "edit"), "POST", world.cluster_b, {}),
        ("clusters:node", (node_a.pk,), "POST", node_a, {"labels": "bad"}),
        ("apps:create", (), "GET", None, {}),
        ("clusters:create", (), "POST", None, {}),
        ("accounts:ram_users", (), "POST", None, {}),
        ("accounts:ram_simulator", (), "GET", None, {}),
        ("accounts:ram_settings", (), "GET", None, {}),
    ]


@pytest.mark.parametrize("persona", ["owner", "reader", "denied"])
def test_what_the_console_offers_is_what_the_door_allows(world: World, persona: str) -> None:
    user = world.persona(persona)
    client = browser(user)
    for view, args, method, on, data in _requests(world):
        if on is not None and not type(on).objects.visible_to(user).filter(pk=on.pk).exists():
            continue  # a page never shows a control for what the user cannot see
        offered = permits(User.objects.get(pk=user.pk), view, *args, method=method, on=on)
        url = reverse(view, args=args)
        answer = client.post(url, data) if method == "POST" else client.get(url)
        assert answer.status_code not in (404, 405), (view, args, answer.status_code)
        assert offered.allowed == (answer.status_code != 403), (persona, view, args, offered, answer.status_code)


def test_read_only_user_sees_every_action_of_an_application_disabled_with_the_action_it_needs(world: World) -> None:
    app = world.apps["a"]
    page = html(browser(world.reader).get(f"/applications/{app.pk}/"))
    for verb, action in (
        ("start", "cs:StartApplication"),
        ("stop", "cs:StopApplication"),
        ("restart", "cs:RestartApplication"),
        ("redeploy", "cs:RedeployApplication"),
        ("kill", "cs:KillApplication"),
        ("delete", "cs:DeleteApplication"),
    ):
        button = re.search(rf'<button[^>]*data-testid="action-{verb}"[^>]*>', page)
        assert button and " disabled" in button.group(0) and f'data-needs="{action}"' in button.group(0), verb
    # Delete does not ask for a confirmation it would then refuse.
    assert "onsubmit" not in form_of(page, f"/applications/{app.pk}/delete/")
    scale = form_of(page, f"/applications/{app.pk}/change/scale/")
    assert scale.count(" disabled") == 2 and 'data-needs="cs:ScaleService"' in scale
    restart = form_of(page, f"/applications/{app.pk}/containers/app-a_app-a_1/restart/")
    assert 'data-needs="cs:RestartContainer"' in restart

    owner_page = html(browser(world.owner).get(f"/applications/{app.pk}/"))
    assert "data-needs=" not in owner_page
    assert "onsubmit" in form_of(owner_page, f"/applications/{app.pk}/delete/")


def test_read_only_user_is_offered_no_cluster_node_or_settings_change(world: World) -> None:
    client = browser(world.reader)
    cluster = html(client.get(f"/clusters/{world.cluster_a.pk}/"))
    assert 'data-testid="denied"' in cluster and 'data-needs="cs:AddClusterNodes"' in cluster
    assert f'action="/clusters/{world.cluster_a.pk}/edit/"' not in cluster
    assert f'action="/clusters/{world.cluster_a.pk}/delete/"' not in cluster
    assert "Create application" not in cluster
    node = Node.objects.get(cluster=world.cluster_a)
    page = html(client.get(f"/clusters/nodes/{node.pk}/"))
    assert re.search(r'<button[^>]*data-testid="node-drain"[^>]*disabled', page)
    assert 'data-needs="cs:ModifyClusterNode"' in page  # the scheduling form is replaced by the reason
    assert "Create cluster" not in html(client.get("/clusters/"))
    assert "Create application" not in html(client.get("/applications/"))
    policy = ram.create_policy(
        world.owner,
        name="templates-read",
        document={
            "Version": "1",
            "Statement": [{"Effect": "Allow", "Action": "cs:DescribeTemplates", "Resource": "*"}],
        },
    )
    ram.attach_policy(world.owner, policy, user=world.reader)
    templates = html(browser(User.objects.get(pk=world.reader.pk)).get("/templates/"))
    assert 'data-template="tpl-acme"' in templates
    assert 'href="/templates/new/"' not in templates
    assert re.search(r'<button class="danger small" disabled[^>]*data-needs="cs:DeleteTemplate"', templates)

    owner_cluster = html(browser(world.owner).get(f"/clusters/{world.cluster_a.pk}/"))
    assert 'data-testid="denied"' not in owner_cluster and "Create application" in owner_cluster


def test_ram_pages_offer_only_what_the_user_may_do(world: World) -> None:
    policy = ram.create_policy(
        world.owner,
        name="ram-read",
        document={"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ram:Get*", "Resource": "*"}]},
    )
    ram.attach_policy(world.owner, policy, user=world.reader)
    client = browser(User.objects.get(pk=world.reader.pk))
    page = html(client.get("/ram/users/denied/"))
    assert re.search(r'<button[^>]*disabled[^>]*data-needs="ram:UpdateUser"', page)
    assert re.search(r'<button class="danger"[^>]*disabled[^>]*data-needs="ram:DeleteUser"', page)
    assert "onsubmit" not in form_of(page, "/ram/users/denied/delete/")
    assert 'data-needs="ram:AttachPolicyToUser"' in page and "Attach policy" not in page
    groups = html(client.get("/ram/groups/ops/"))
    assert 'data-needs="ram:DeleteGroup"' in groups and "Add member" not in groups
    tabs = html(client.get("/ram/users/"))
    assert "Policy simulator" not in tabs and "/ram/settings/" not in tabs and "Create sub-account" not in tabs
    owner_tabs = html(browser(world.owner).get("/ram/users/"))
    assert "Policy simulator" in owner_tabs and "Create sub-account" in owner_tabs


def test_refusal_page_mentions_the_simulator_only_to_who_may_use_it(world: World) -> None:
    app = world.apps["a"]
    refused = browser(world.reader).get(f"/applications/{app.pk}/update/")
    assert refused.status_code == 403
    body = refused.content.decode()
    assert "You are not permitted to perform cs:UpdateApplication" in body
    assert "simulator" not in body.lower()
    policy = ram.create_policy(
        world.owner,
        name="simulate",
        document={"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ram:SimulatePolicy", "Resource": "*"}]},
    )
    ram.attach_policy(world.owner, policy, user=world.reader)
    again = browser(User.objects.get(pk=world.reader.pk)).get(f"/applications/{app.pk}/update/")
    assert again.status_code == 403 and 'data-testid="simulator-link"' in again.content.decode()


def test_create_access_key_is_offered_only_to_who_may_create_one(world: World) -> None:
    page = html(browser(world.reader).get("/account/"))
    assert 'action="/account/access-keys/"' not in page
    assert 'data-needs="ram:CreateAccessKey"' in page
    policy = ram.create_policy(
        world.owner,
        name="own-keys",
        document={
            "Version": "1",
            "Statement": [
                {"Effect": "Allow", "Action": "ram:*AccessKey*", "Resource": world.reader.resource_name},
            ],
        },
    )
    ram.attach_policy(world.owner, policy, user=world.reader)
    reader = User.objects.get(pk=world.reader.pk)
    assert 'action="/account/access-keys/"' in html(browser(reader).get("/account/"))
    assert 'action="/account/access-keys/"' in html(browser(world.owner).get("/account/"))


def test_create_application_without_a_cluster_to_deploy_to_says_so(db: None) -> None:
    newcomer = make_tenant("initech")
    page = html(browser(newcomer).get("/applications/new/"))
    assert 'data-testid="no-cluster"' in page and 'name="image"' not in page
    assert 'href="/clusters/new/"' in page
    deploy = html(browser(newcomer).get("/templates/sample/web-db/deploy/"))
    assert 'data-testid="no-cluster"' in deploy and 'name="app_name"' not in deploy


def test_application_list_shows_each_service_on_its_own_line(world: World) -> None:
    app = world.apps["a"]
    Service.objects.create(application=app, name="worker", image="local/busybox:2", scale=2)
    page = html(browser(world.owner).get("/applications/"))
    row = page[page.index(f'data-application="{app.name}"') :]
    row = row[: row.index("</tr>")]
    images = re.findall(r'<div data-service="([^"]+)"[^>]*>(.*?)</div>', row)
    assert [name for name, _ in images] == ["app-a", "worker", "app-a", "worker"]
    assert "<code>local/busybox:1</code>" in images[0][1] and "<code>local/busybox:2</code>" in images[1][1]
    assert images[2][1].endswith("1/1") and images[3][1].endswith("0/2")


def test_account_help_mfa_key_and_sign_in_read_as_meant(world: World) -> None:
    client = browser(world.owner)
    page = html(client.get("/account/"))
    assert "Authorization: Bearer &lt;AccessKeyId&gt;:&lt;AccessKeySecret&gt;" in page
    client.post("/account/mfa/begin/")
    page = html(client.get("/account/"))
    key = re.search(r'data-testid="mfa-key">([^<]*)<', page).group(1)
    assert re.fullmatch(r"[A-Z2-7]{16,}", key), key  # the base32 secret an app asks for, not the otpauth URI
    assert '<label for="id_mfa-code">MFA code</label>' in page
    login = html(Client().get("/login/"))
    assert ">Next<" not in login and 'type="hidden" name="next"' in login


def test_template_editor_opens_empty_and_checks_as_typed(world: World) -> None:
    page = html(browser(world.owner).get("/templates/new/"))
    text = re.search(r"<textarea[^>]*name=\"compose\"[^>]*>(.*?)</textarea>", page, re.S)
    assert text and text.group(1).strip() == ""
    assert 'id="template-graph-card" hidden' in page and 'id="template-parameters-card" hidden' in page
    assert 'data-validate-url="/api/v1/templates/validate"' in page and "js/editor.js" in page
    copied = html(browser(world.owner).get("/templates/new/?from=web-db"))
    assert 'data-parameter="DB_PASSWORD"' in copied and 'data-parameter="IMAGE"' not in copied


def test_deploy_form_hides_what_a_secret_looking_variable_is(world: World) -> None:
    page = html(browser(world.owner).get("/templates/sample/web-db/deploy/"))
    assert re.search(r'<input type="password" name="var_DB_PASSWORD"', page)
    assert re.search(r'<input type="text" name="var_WEB_IMAGE"', page)


def _compose_app(world: World) -> Application:
    text = "services:\n  web:\n    image: local/busybox:${TAG:-1}\n    command: sleep 3600\n"
    release = operations.deploy_compose(world.owner, world.cluster_a, name="shop", compose=text)
    Release.objects.filter(pk=release.pk).update(status=Release.Status.SUCCESSFUL)
    app = Application.objects.get(pk=release.application_id)
    update = operations.update_application(world.owner, app, variables={"TAG": "2"})
    Release.objects.filter(pk=update.pk).update(status=Release.Status.SUCCESSFUL)
    app.refresh_from_db()
    return app


def test_rollback_shows_its_plan_first_and_is_a_rollback(world: World) -> None:
    app = _compose_app(world)
    client = browser(world.owner)
    detail = html(client.get(f"/applications/{app.pk}/"))
    assert "Roll back to this…" in detail
    before = Release.objects.filter(application=app).count()
    plan = html(client.post(f"/applications/{app.pk}/change/rollback/", {"version": "1"}))
    assert 'data-testid="plan"' in plan and "local/busybox:2 → local/busybox:1" in plan
    assert 'name="confirm" value="1"' in plan
    assert Release.objects.filter(application=app).count() == before  # nothing happened yet
    done = client.post(f"/applications/{app.pk}/change/rollback/", {"version": "1", "confirm": "1"})
    assert done.status_code == 302
    release = Release.objects.filter(application=app).order_by("-id").first()
    assert release.kind == "rollback" and release.get_kind_display() == "rollback"
    entry = OperationLog.objects.filter(target="shop", outcome="accepted").order_by("-id").first()
    assert entry.action == "cs:RollbackApplication" and entry.parameters["to_version"] == 1
    assert not OperationLog.objects.filter(action="cs:UpdateApplication", parameters__release=release.pk).exists()
    assert app.versions.order_by("-number").first().note == "rollback to v1"


def test_create_from_an_image_shows_the_plan_before_creating(world: World) -> None:
    client = browser(world.owner)
    data = {"cluster": world.cluster_a.pk, "name": "solo", "image": "local/busybox:1", "scale": "2", "confirm": "0"}
    page = html(client.post("/applications/new/", data))
    assert 'data-testid="plan"' in page and 'data-plan-container="solo_solo_2"' in page
    assert not Application.objects.filter(name="solo").exists()
    done = client.post("/applications/new/", {**data, "confirm": "1"})
    assert done.status_code == 302 and Application.objects.filter(name="solo", deleted_at__isnull=True).exists()


def test_create_from_an_image_no_node_has_and_no_registry_gives_is_refused_up_front(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps import preflight
    from clusters import docker_host as host

    monkeypatch.setattr(preflight, "_lacks", lambda node, image: True)
    monkeypatch.setattr(host.Endpoint, "of", classmethod(lambda cls, node, **kw: object()))
    monkeypatch.setattr(host, "registry_lookup", lambda endpoint, image: "manifest unknown")
    client = browser(world.owner)
    data = {"cluster": world.cluster_a.pk, "name": "ghost", "image": "local/nope:1", "scale": "1"}
    for confirm in ("0", "1"):
        page = html(client.post("/applications/new/", {**data, "confirm": confirm}))
        assert 'data-testid="error-image"' in page
        assert "local/nope:1 is not on node-a and cannot be pulled: manifest unknown" in page
    assert not Application.objects.filter(name="ghost").exists()


def test_application_page_has_the_row_of_a_container_that_appears_live_and_no_stop_for_exited(world: World) -> None:
    app = world.apps["a"]
    Container.objects.filter(service__application=app).update(state="exited")
    page = html(browser(world.owner).get(f"/applications/{app.pk}/"))
    pattern = page[page.index('<template id="container-row">') : page.index("</template>")]
    assert f'href="/applications/{app.pk}/containers/__name__/"' in pattern
    for change in ("restart", "stop", "remove"):
        assert f'action="/applications/{app.pk}/containers/__name__/{change}/"' in pattern
    stop = form_of(page, f"/applications/{app.pk}/containers/app-a_app-a_1/stop/")
    assert 'data-when="running restarting paused" hidden' in stop
    assert 'id="app-gone"' in page and 'data-testid="app-gone" hidden' in page


def test_cluster_settings_offer_no_toggle_that_nothing_uses_and_checkboxes_sit_by_their_labels(world: World) -> None:
    client = browser(world.owner)
    page = html(client.get(f"/clusters/{world.cluster_a.pk}/"))
    for word in ("Routing service", "Logging service", "Monitoring service", "Volume service"):
        assert word not in page
    assert '<label class="check"><input type="checkbox" name="force">' in page
    assert re.search(r'<label for="id_reg-publish_ip">Address for published ports</label> <span class="required"', page)
    simulator = html(client.get("/ram/simulator/"))
    assert re.search(r'<label for="id_mfa"><input type="checkbox" name="mfa" id="id_mfa"> MFA present', simulator)
    new = html(client.get("/clusters/new/"))
    assert "Routing service" not in new


def test_revoking_a_certificate_asks_first(world: World) -> None:
    UserCertificate.objects.create(
        cluster=world.cluster_a,
        user=world.owner,
        user_login=world.owner.login,
        serial="abc123",
        fingerprint="f",
        not_after=timezone.now() + timedelta(hours=1),
    )
    page = html(browser(world.owner).get(f"/clusters/{world.cluster_a.pk}/"))
    form = form_of(page, f"/clusters/{world.cluster_a.pk}/certificates/abc123/revoke/")
    assert "onsubmit=\"return confirm('Revoke this certificate?" in form


def test_container_inspect_shows_text_as_itself(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from clusters import docker_host as host

    app = world.apps["a"]
    Container.objects.filter(service__application=app).update(docker_id="c0ffee")
    monkeypatch.setattr(host.Endpoint, "of", classmethod(lambda cls, node, **kw: object()))
    monkeypatch.setattr(host, "container_logs", lambda endpoint, cid, tail: "")
    monkeypatch.setattr(host, "inspect_container", lambda endpoint, cid: {"Name": "/x", "Path": "wait…"})
    page = html(browser(world.owner).get(f"/applications/{app.pk}/containers/app-a_app-a_1/"))
    assert "wait…" in page and "\\u2026" not in page


def test_operation_log_says_when_filters_match_nothing_and_when_a_time_is_not_one(world: World) -> None:
    client = browser(world.owner)
    none = html(client.get("/operation-logs/", {"actor": "nobody-at-all"}))
    assert "No operation matches these filters." in none and "No operations yet." not in none
    bad = html(client.get("/operation-logs/", {"since": "yesterday"}))
    assert 'data-testid="invalid-filter"' in bad and "“yesterday” is not a date and time" in bad
    assert 'value="yesterday"' in bad


def test_every_release_kind_is_run_shown_and_logged() -> None:
    from apps import releases

    for kind in Release.Kind.values:
        assert kind in releases.RUNNERS and kind in releases.ACTIONS, kind
        assert kind in releases.STATUS_DURING and kind in releases.STATUS_AFTER, kind
