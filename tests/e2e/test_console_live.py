"""In Chromium, what a newcomer met (issue 11): an image application is planned before it is made (an image no
node has and no registry gives is refused there), containers that appear live get their link and actions, the
progress bar agrees with its count, times read one way, exited containers offer no Stop, a page of an
application deleted elsewhere turns read-only, a node added while the cluster page is open appears, the template
editor follows what is typed, and a rollback is planned, confirmed and shown as a rollback."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from apps import operations
from apps.models import Application, Release
from clusters.models import Cluster, Node
from clusters.operations import ensure_local_cluster
from console import live
from console.models import OperationLog
from tests import harness
from tests.conftest import PASSWORD, make_tenant

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOTS = harness.LOG_DIR
SLOW = 30_000  # what waits on containers and releases: a busy machine takes longer than expect's 5 s


def sign_in(page: Page, url: str, login: str = "admin@acme") -> None:
    page.goto(url + "/login/")
    page.get_by_label("User name").fill(login)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def test_image_application_planned_then_live_until_deleted_elsewhere(stack: harness.Stack, page: Page) -> None:
    page.set_default_timeout(30_000)
    owner = make_tenant("acme")
    cluster = ensure_local_cluster(owner.tenant)
    assert cluster is not None
    sign_in(page, stack.url)

    # An image that no node has and no registry gives: refused on the plan, with the reason; nothing is made.
    page.goto(stack.url + "/applications/new/")
    page.get_by_label("Application name").fill("ghost")
    page.get_by_label("Image").fill("local/does-not-exist:1")
    page.get_by_test_id("show-plan").click()
    expect(page.get_by_test_id("error-image")).to_contain_text("local/does-not-exist:1 is not on")
    expect(page.get_by_test_id("error-image")).to_contain_text("cannot be pulled")
    assert not Application.objects.filter(name="ghost").exists()
    page.screenshot(path=str(SHOTS / "e2e-issue11-image-refused.png"), full_page=True)

    page.get_by_label("Application name").fill("hello")
    page.get_by_label("Image").fill("local/busybox:1")
    page.get_by_label("Command").fill("sleep 3600")
    page.get_by_test_id("show-plan").click()
    plan = page.get_by_test_id("plan")
    expect(plan.locator('tr[data-plan-container="hello_hello_1"]')).to_be_visible()
    assert not Application.objects.filter(name="hello").exists()
    page.get_by_test_id("apply").click()
    expect(page.get_by_role("heading", name=re.compile("hello"))).to_be_visible()
    expect(page.locator('tr[data-container="hello_hello_1"] .state')).to_have_text("running", timeout=SLOW)
    expect(page.locator("#release-status")).to_have_text("successful", timeout=SLOW)
    app = Application.objects.get(name="hello", deleted_at__isnull=True)

    # Scaled from elsewhere (the API, another tab): the new rows arrive live with their link and actions.
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    operations.scale_service(owner, app, "hello", 3)
    for name in ("hello_hello_2", "hello_hello_3"):
        row = page.locator(f'tr[data-container="{name}"]')
        expect(row.locator(".state")).to_have_text("running", timeout=SLOW)
        expect(row.get_by_role("link", name=name)).to_have_attribute(
            "href", f"/applications/{app.pk}/containers/{name}/"
        )
        for action in ("Restart", "Stop", "Remove"):
            expect(row.get_by_role("button", name=action)).to_be_enabled()
    expect(page.locator("#release-status")).to_have_text("successful", timeout=SLOW)
    done, total = page.locator("#release-count").inner_text().split("/")
    assert done == total
    # The bar is as full as its count says (no lag behind it).
    fill = page.evaluate(
        """() => { const box = document.querySelector('#release-progress');
                   const bar = box.querySelector('.bar');
                   return bar.getBoundingClientRect().width / box.getBoundingClientRect().width; }"""
    )
    assert fill == pytest.approx(1.0, abs=0.01)
    times = page.locator("#events time").all_inner_texts()
    assert times and all(re.fullmatch(r"\d\d:\d\d:\d\d", t) for t in times), times
    assert navigations == []
    page.screenshot(path=str(SHOTS / "e2e-issue11-scaled-live.png"), full_page=True)

    # A stopped container offers no Stop.
    third = page.locator('tr[data-container="hello_hello_3"]')
    third.get_by_role("button", name="Stop").click()
    third = page.locator('tr[data-container="hello_hello_3"]')
    expect(third.locator(".state")).to_have_text("exited", timeout=SLOW)
    expect(third.get_by_role("button", name="Stop")).to_have_count(0)
    expect(third.get_by_role("button", name="Restart")).to_be_visible()

    # The Copy button next to the resource name reads on the white card (it was white on white).
    copy = page.locator(".resource-name button[data-copy]")
    color = copy.evaluate("b => getComputedStyle(b).color")
    assert color not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), color
    expect(page.get_by_test_id("time-zone")).to_contain_text("UTC")
    page.screenshot(path=str(SHOTS / "e2e-issue11-application-page.png"), full_page=True)

    # A container's page open in another tab follows it, and says so when its application goes.
    container_page = page.context.new_page()
    container_page.goto(f"{stack.url}/applications/{app.pk}/containers/hello_hello_1/")
    expect(container_page.get_by_test_id("live-state")).to_have_text("Live", timeout=SLOW)
    expect(container_page.get_by_test_id("app-gone")).to_be_hidden()

    # Deleted from another tab: this page turns read-only and says why.
    other = page.context.new_page()
    other.goto(f"{stack.url}/applications/{app.pk}/")
    other.once("dialog", lambda dialog: dialog.accept())
    other.get_by_test_id("action-delete").click()
    expect(page.get_by_test_id("app-gone")).to_be_visible(timeout=SLOW)
    expect(page.locator("#app-status")).to_contain_text("deleted")
    # The delete's end reached the page before the application's "deleted" (after which it stops listening).
    expect(page.locator("#release-status")).to_contain_text("successful")
    expect(page.locator("#events")).to_contain_text("Delete finished.")
    expect(page.locator("#live-app form")).to_have_count(0)
    expect(page.get_by_role("button", name="Scale")).to_have_count(0)
    # All of it says gone: the foot of the page, the services' counts and the summary (no containers left).
    expect(page.get_by_test_id("live-state")).to_have_text("This application is gone.")
    expect(page.locator("#containers tr[data-container]")).to_have_count(0)
    assert set(page.locator("[data-wanted]").all_inner_texts()) == {"0"}
    page.screenshot(path=str(SHOTS / "e2e-issue11-deleted-elsewhere.png"), full_page=True)
    expect(container_page.get_by_test_id("app-gone")).to_be_visible(timeout=SLOW)
    expect(container_page.get_by_test_id("live-state")).to_have_text("No longer live: this container is gone.")
    container_page.screenshot(path=str(SHOTS / "e2e-issue11-container-deleted-elsewhere.png"), full_page=True)
    # The operation log names the scale once, and writes its times on one line.
    other.goto(f"{stack.url}/operation-logs/?action=cs:ScaleService")
    targets = other.locator("table.oplog tbody td:nth-child(4)").all_inner_texts()
    assert targets and set(targets) == {"hello"}, targets
    other.screenshot(path=str(SHOTS / "e2e-issue11-operation-log.png"), full_page=True)
    page.reload()
    expect(page.get_by_test_id("not-found")).to_be_visible()


def test_node_added_while_the_cluster_page_is_open_appears(stack: harness.Stack, page: Page) -> None:
    page.set_default_timeout(20_000)
    owner = make_tenant("acme")
    cluster = Cluster.objects.create(tenant=owner.tenant, name="edge")
    sign_in(page, stack.url)
    page.goto(f"{stack.url}/clusters/{cluster.pk}/")
    expect(page.locator("#nodes")).to_contain_text("No node.")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    # What the end of a provisioning does: the node's row, then its live message.
    node = Node.objects.create(
        cluster=cluster, name="n-new", endpoint="unix:///nonexistent-n-new.sock", publish_ip="127.0.0.1", state="ready"
    )
    live.publish("cluster", cluster.pk, node.as_live())
    expect(page.locator(f'#nodes tr[data-node-row="{node.pk}"]')).to_contain_text("n-new", timeout=SLOW)
    expect(page.locator("[data-ready-count]")).not_to_have_text("0/0")
    assert navigations == []
    page.screenshot(path=str(SHOTS / "e2e-issue11-node-appears.png"), full_page=True)


TEMPLATE = """services:
  web:
    image: local/busybox:1
    command: sleep ${SECS:-3600}
    init: true
"""


def test_template_editor_follows_the_text_and_rollback_is_planned(stack: harness.Stack, page: Page) -> None:
    page.set_default_timeout(30_000)
    owner = make_tenant("acme")
    ensure_local_cluster(owner.tenant)
    sign_in(page, stack.url)

    page.goto(stack.url + "/templates/new/")
    compose = page.get_by_label("Compose file")
    expect(compose).to_have_value("")
    expect(page.locator("#template-graph-card")).to_be_hidden()
    compose.fill("services:\n  web:\n    image: local/busybox:1\n    depends_on: [nope]\n")
    expect(page.get_by_test_id("template-errors")).to_contain_text("services.web.depends_on")
    compose.fill(TEMPLATE)
    expect(page.get_by_test_id("template-errors")).to_be_hidden()
    expect(page.get_by_test_id("graph")).to_contain_text("web")
    expect(page.locator('#template-parameters tr[data-parameter="SECS"]')).to_contain_text("3600")
    expect(page.locator("#template-parameters tr")).to_have_count(1)
    page.screenshot(path=str(SHOTS / "e2e-issue11-template-editor.png"), full_page=True)
    page.get_by_label("Name").fill("sleeper")
    page.get_by_role("button", name="Save").click()

    page.get_by_role("link", name="Deploy").click()
    page.get_by_label("Application name").fill("naps")
    page.get_by_test_id("show-plan").click()
    page.get_by_test_id("apply").click()
    expect(page.locator('tr[data-container="naps_web_1"] .state')).to_have_text("running", timeout=SLOW)
    expect(page.locator("#release-status")).to_have_text("successful", timeout=SLOW)
    app = Application.objects.get(name="naps", deleted_at__isnull=True)
    release = operations.update_application(owner, app, variables={"SECS": "3601"})
    assert isinstance(release, Release)
    expect(page.locator("#release-kind")).to_have_text("update", timeout=SLOW)
    expect(page.locator("#release-status")).to_have_text("successful", timeout=SLOW)
    # The versions table follows without a reload: v2 appears with the images it ran.
    expect(page.locator('tr[data-version="2"]')).to_contain_text("web: ", timeout=SLOW)

    page.get_by_test_id("rollback-1").click()
    plan = page.get_by_test_id("plan")
    expect(plan.locator('tr[data-plan-service="web"]')).to_contain_text("naps_web_1-1 @")  # the update replaced it
    assert Release.objects.filter(application=app).count() == 2  # nothing happened yet
    page.screenshot(path=str(SHOTS / "e2e-issue11-rollback-plan.png"), full_page=True)
    plan.get_by_test_id("apply").click()
    expect(page.locator("#release-kind")).to_have_text("rollback", timeout=SLOW)
    expect(page.locator("#release-status")).to_have_text("successful", timeout=SLOW)
    expect(page.locator('tr[data-version="3"]')).to_contain_text("rollback to v1")
    expect(page.locator('tr[data-version="3"]')).to_contain_text("web: ", timeout=SLOW)
    page.screenshot(path=str(SHOTS / "e2e-issue11-rolled-back.png"), full_page=True)
    entries = OperationLog.objects.filter(action="cs:RollbackApplication", target="naps")
    assert set(entries.values_list("outcome", flat=True)) == {"accepted", "success"}
