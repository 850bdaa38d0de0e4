"""In Chromium: first-run setup, deploy 2 httpd containers, watch them run live, stop, delete."""

from __future__ import annotations

import re
import urllib.request

import docker
import pytest
from playwright.sync_api import Page, expect

from apps.models import Application
from tests import harness
from tests.conftest import ours

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_first_run_deploy_watch_stop_delete(stack: harness.Stack, page: Page) -> None:
    page.set_default_timeout(30_000)
    page.goto(stack.url + "/")
    expect(page).to_have_url(re.compile(r"/setup/$"))

    page.get_by_label("Organisation name").fill("Acme Corp")
    page.get_by_label("Tenant alias").fill("acme")
    page.get_by_label("Administrator user name").fill("admin")
    page.get_by_label("Password", exact=True).fill("Correct-Horse-9")
    page.get_by_label("Password again").fill("Correct-Horse-9")
    page.get_by_role("button", name="Create tenant").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_test_id("who")).to_contain_text("admin@acme")
    for section in ["Clusters", "Applications", "Templates", "Nodes", "Operation logs", "RAM"]:
        expect(page.locator("nav.sidenav").get_by_role("link", name=section, exact=True)).to_be_visible()

    page.locator("nav.sidenav").get_by_role("link", name="Applications", exact=True).click()
    page.get_by_role("link", name="Create application").click()
    # A bad name is refused inline and nothing is created.
    page.get_by_label("Application name").fill("Bad Name")
    page.get_by_label("Image").fill("local/busybox:1")
    page.get_by_test_id("show-plan").click()
    expect(page.get_by_test_id("error-name")).to_be_visible()
    assert not Application.objects.exists()

    page.get_by_label("Application name").fill("hello")
    page.get_by_label("Command").fill("httpd -f -p 80 -h /www")
    page.get_by_label("Containers").fill("2")
    page.get_by_label("Container port").fill("80")
    page.get_by_test_id("show-plan").click()  # the plan first: where the two containers go; nothing made yet
    expect(page.get_by_test_id("plan").locator("tr[data-plan-container]")).to_have_count(2)
    assert not Application.objects.exists()
    page.get_by_test_id("apply").click()
    expect(page.get_by_role("heading", name=re.compile("hello"))).to_be_visible()

    # From here on the page must not reload: everything arrives over the websocket.
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    rows = page.locator("#containers tr[data-container]")
    expect(rows).to_have_count(2)
    for name in ("hello_hello_1", "hello_hello_2"):
        expect(page.locator(f'tr[data-container="{name}"] .state')).to_have_text("running")
    expect(page.locator("#release-progress")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#release-status")).to_have_text("successful")
    expect(page.locator("#events li").first).to_be_visible()
    assert navigations == []
    page.screenshot(path=str(harness.LOG_DIR / "e2e-app-running.png"), full_page=True)

    addresses = [rows.nth(i).locator(".address").inner_text() for i in range(2)]
    for address in addresses:
        assert address.startswith("127.0.0.1:")
        with urllib.request.urlopen(f"http://{address}/", timeout=5) as response:  # noqa: S310 - 127.0.0.1
            assert "hello from berth" in response.read().decode()

    page.get_by_test_id("action-stop").click()
    for name in ("hello_hello_1", "hello_hello_2"):
        expect(page.locator(f'tr[data-container="{name}"] .state')).to_have_text("exited")
    expect(page.locator("#app-status")).to_contain_text("stopped")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("action-delete").click()
    expect(page.locator("#app-status")).to_contain_text("deleted")
    expect(rows).to_have_count(0)
    expect(page.get_by_test_id("app-gone")).to_be_visible()  # nothing left to do on this page
    expect(page.locator("#live-app form")).to_have_count(0)

    app = Application.objects.get(name="hello")
    engine = docker.from_env()
    assert engine.containers.list(all=True, filters=ours(application=app.pk), ignore_removed=True) == []
    assert engine.networks.list(names=["hello_default"]) == []

    page.locator("nav.sidenav").get_by_role("link", name="Operation logs").click()
    log = page.locator("table.oplog tbody")
    expect(log.locator('tr[data-action="cs:DeleteApplication"][data-outcome="success"]')).to_have_count(1)
    expect(log.locator('tr[data-action="cs:CreateApplication"][data-outcome="success"]')).to_have_count(1)
    expect(log.locator('tr[data-action="cs:CreateApplication"][data-outcome="failure"]')).to_have_count(0)
