"""In Chromium: create a cluster, add a node by endpoint, watch it go unreachable when its engine dies and
ready again when it returns, without reloading the page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from apps.models import Application, Container, Service
from clusters import hostaccess
from clusters.models import Cluster, Node, NodeTask
from console import live
from tests import harness
from tests.conftest import PASSWORD, make_tenant

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_node_health_is_live_in_the_browser(stack: harness.Stack, page: Page, tmp_path: Path) -> None:
    page.set_default_timeout(20_000)
    make_tenant("acme")
    node = harness.netns_node(26)
    try:
        page.goto(stack.url + "/login/")
        page.get_by_label("User name").fill("admin@acme")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.locator("nav.sidenav").get_by_role("link", name="Clusters", exact=True).click()
        page.get_by_role("link", name="Create cluster").click()
        page.get_by_label("Cluster name").fill("edge")
        page.get_by_label("Zones").fill("a b")
        page.get_by_role("button", name="Create").click()
        expect(page.get_by_role("heading", name=re.compile("Cluster edge"))).to_be_visible()
        assert Cluster.objects.get(name="edge").ca_cert

        page.get_by_label("Node name").last.fill("n26")
        page.get_by_label("Docker endpoint").fill(node.endpoint)
        page.get_by_label("Address for published ports").fill(node.address)
        page.get_by_role("button", name="Register").click()
        badge = page.locator(f'[data-live-node="{Node.objects.get(name="n26").pk}"]')
        expect(badge).to_have_text("ready")

        page.get_by_role("button", name="Show attach command").click()
        expect(page.get_by_test_id("attach-command")).to_contain_text("/api/v1/attach/")

        navigations: list[str] = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url))
        node.kill_engine()
        expect(badge).to_have_text("unreachable", timeout=10_000)
        node.start_engine()
        expect(badge).to_have_text("ready", timeout=15_000)
        assert navigations == []
        page.screenshot(path=str(harness.LOG_DIR / "e2e-cluster.png"), full_page=True)
    finally:
        node.stop_engine()


def test_a_nodes_open_page_follows_its_node_only_and_turns_read_only_when_it_is_removed(
    stack: harness.Stack, page: Page
) -> None:
    page.set_default_timeout(20_000)
    owner = make_tenant("acme")
    cluster = Cluster.objects.create(tenant=owner.tenant, name="edge")
    hostaccess.grant(owner.tenant)  # nodes at unix:// endpoints of a tenant without the grant are taken away
    mine, other = (
        Node.objects.create(
            cluster=cluster,
            name=name,
            endpoint=f"unix:///nonexistent-{name}.sock",
            publish_ip="127.0.0.1",
            state="ready",
        )
        for name in ("n-a", "n-b")
    )
    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="shop", status="running")
    service = Service.objects.create(application=app, name="web", image="local/busybox:1", scale=1)
    Container.objects.create(service=service, node=mine, index=1, name="shop_web_1", state="running")
    page.goto(stack.url + "/login/")
    page.get_by_label("User name").fill("admin@acme")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # The cluster's page: a task that starts while it is open names its node.
    page.goto(f"{stack.url}/clusters/{cluster.pk}/")
    started = NodeTask.objects.create(cluster=cluster, node=other, kind="reset", target_name="n-b", status="running")
    live.publish("cluster", cluster.pk, started.as_live())
    expect(page.locator(f'#node-tasks tr[data-live-task="{started.pk}"] .task-node')).to_have_text("n-b")

    NodeTask.objects.filter(pk=started.pk).update(status="successful")
    page.goto(f"{stack.url}/clusters/nodes/{mine.pk}/")
    page.get_by_role("button", name="Save").click()  # a notice of what was just asked
    expect(page.locator(".flash[role=status]")).to_have_count(1)
    expect(page.locator("tr[data-node-container]")).to_have_text(re.compile("shop_web_1"))
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    # Another node's task is not this node's operation; this node's own is, with its name.
    elsewhere = NodeTask.objects.create(
        cluster=cluster, node=other, kind="provision", target_name="n-b", status="running"
    )
    live.publish("cluster", cluster.pk, elsewhere.as_live())
    drain = NodeTask.objects.create(cluster=cluster, node=mine, kind="drain", target_name="n-a", status="running")
    live.publish("cluster", cluster.pk, drain.as_live())
    expect(page.locator(f'#node-tasks tr[data-live-task="{drain.pk}"] .task-node')).to_have_text("n-a")
    expect(page.locator(f'#node-tasks tr[data-live-task="{elsewhere.pk}"]')).to_have_count(0)
    expect(page.locator(f'#node-tasks tr[data-live-task="{started.pk}"]')).to_have_count(0)

    # The drain ends with the node out of the cluster: the page offers nothing more to do.
    Node.objects.filter(pk=mine.pk).update(state=Node.State.REMOVED)
    mine.refresh_from_db()
    live.publish("cluster", cluster.pk, mine.as_live())
    expect(page.get_by_test_id("node-gone")).to_be_visible()
    expect(page.locator(f'[data-live-node="{mine.pk}"]')).to_have_text("removed")
    expect(page.get_by_test_id("node-drain")).to_have_count(0)
    expect(page.get_by_test_id("node-reset")).to_have_count(0)
    expect(page.locator("[data-live-node-page] form")).to_have_count(0)
    expect(page.locator(".flash[role=status]")).to_have_count(0)
    expect(page.locator("tr[data-node-container]")).to_have_count(0)
    expect(page.locator("#node-containers")).to_contain_text("No container.")
    # How the drain ended still shows, after the node has left.
    NodeTask.objects.filter(pk=drain.pk).update(status="successful", progress_done=1, progress_total=1)
    drain.refresh_from_db()
    live.publish("cluster", cluster.pk, drain.as_live())
    expect(page.locator(f'#node-tasks tr[data-live-task="{drain.pk}"] .task-status')).to_have_text("successful")
    expect(page.get_by_test_id("node-gone")).to_be_visible()
    assert navigations == []
    page.screenshot(path=str(harness.LOG_DIR / "e2e-issue11-node-removed.png"), full_page=True)
    assert page.request.get(f"{stack.url}/clusters/nodes/{mine.pk}/").status == 404
