"""In Chromium: the owner creates a sub-account and grants it read-only on one cluster; the sub-account
signs in, sees only that cluster, and gets a clear page for the other one and for a forbidden action."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from apps.models import Application, Release, Service
from clusters.models import Cluster
from console.models import OperationLog
from tests import harness
from tests.conftest import PASSWORD, make_tenant

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def sign_in(page: Page, url: str, login: str) -> None:
    page.goto(url + "/login/")
    page.get_by_label("User name").fill(login)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def test_sub_account_sees_only_its_granted_cluster(stack: harness.Stack, page: Page) -> None:
    page.set_default_timeout(20_000)
    owner = make_tenant("acme")
    alpha = Cluster.objects.create(tenant=owner.tenant, name="alpha")
    beta = Cluster.objects.create(tenant=owner.tenant, name="beta")
    app = Application.objects.create(tenant=owner.tenant, cluster=alpha, name="shop", status="running")
    Service.objects.create(application=app, name="shop", image="local/busybox:1")

    sign_in(page, stack.url, "admin@acme")
    page.locator("nav.sidenav").get_by_role("link", name="RAM").click()
    page.get_by_label("User name").fill("reader")
    page.get_by_label("Console password").fill(PASSWORD)
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name=re.compile("reader@acme"))).to_be_visible()

    page.get_by_role("navigation", name="RAM sections").get_by_role("link", name="Authorizations").click()
    page.get_by_label("User or group").select_option("user:reader")
    page.get_by_label("Cluster").select_option(str(alpha.pk))
    page.get_by_label("Role").select_option("read-only")
    page.get_by_role("button", name="Grant").click()
    expect(page.locator(f'tr[data-grant="user:reader@{alpha.pk}"]')).to_contain_text("read-only")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, stack.url, "reader@acme")
    expect(page.get_by_test_id("who")).to_have_text("reader@acme")
    page.locator("nav.sidenav").get_by_role("link", name="Clusters").click()
    table = page.locator("main table tbody")
    expect(table.get_by_role("link", name="alpha")).to_be_visible()
    expect(table.get_by_role("link", name="beta")).to_have_count(0)

    page.goto(f"{stack.url}/clusters/{beta.pk}/")
    expect(page.get_by_test_id("not-found")).to_contain_text("not permitted")

    page.goto(f"{stack.url}/clusters/{alpha.pk}/")
    page.get_by_role("link", name="shop").click()
    # Read-only: every action is shown disabled, saying which action it needs.
    stop = page.get_by_test_id("action-stop")
    expect(stop).to_be_disabled()
    expect(stop).to_have_attribute("title", "Not permitted: this needs cs:StopApplication.")
    expect(page.get_by_test_id("action-delete")).to_be_disabled()
    page.screenshot(path=str(harness.LOG_DIR / "e2e-issue11-read-only.png"), full_page=True)
    # A page it may not open says so, and does not send it to a simulator it may not use either.
    page.goto(f"{stack.url}/applications/{app.pk}/update/")
    expect(page.get_by_test_id("not-permitted")).to_contain_text(
        "You are not permitted to perform cs:UpdateApplication"
    )
    expect(page.get_by_test_id("simulator-link")).to_have_count(0)
    assert not Release.objects.filter(application=app, kind="stop").exists()
    assert OperationLog.objects.filter(action="cs:GrantPermissions", outcome="success", cluster_id=alpha.pk).exists()
    assert OperationLog.objects.filter(action="ram:ConsoleSignin", actor_name="reader@acme").exists()
