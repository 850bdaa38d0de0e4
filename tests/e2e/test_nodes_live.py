"""In Chromium: create a cluster, add a node by endpoint, watch it go unreachable when its engine dies and
ready again when it returns, without reloading the page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from clusters.models import Cluster, Node
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
