"""In Chromium (issue 14): a rolling update's plan shows its batches; the application page shows the release paused
after a failed batch, with Resume and Abort; Pause waits before the next batch; Abort ends it, and the containers that
ran before still run. A read-only sub-account sees the controls disabled, naming the action they need."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from accounts import operations as ram
from apps import operations
from apps.models import Application, Container, Release
from clusters.operations import ensure_local_cluster
from tests import harness
from tests.conftest import PASSWORD, make_tenant
from tests.e2e.test_console_live import SHOTS, SLOW, sign_in
from tests.integration.test_rolling import compose

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_paused_release_is_resumed_paused_and_aborted_from_the_application_page(
    stack: harness.Stack, page: Page
) -> None:
    page.set_default_timeout(30_000)
    owner = make_tenant("acme")
    cluster = ensure_local_cluster(owner.tenant)
    release = operations.deploy_compose(owner, cluster, name="tide", compose=compose("1"))
    harness.wait_until(lambda: Release.objects.get(pk=release.pk).status == "successful", 60, 0.2, "the deploy")
    app = Application.objects.get(name="tide", deleted_at__isnull=True)
    sign_in(page, stack.url)

    page.goto(f"{stack.url}/applications/{app.pk}/update/")
    page.get_by_label("Compose file").fill(compose("2", health="false"))
    page.get_by_test_id("show-plan").click()
    rolling = page.get_by_test_id("rolling-web")
    expect(rolling).to_contain_text("Rolling, start-first, 2 at a time")
    expect(rolling.locator("li")).to_have_text(["tide_web_1, tide_web_2", "tide_web_3, tide_web_4"])
    page.screenshot(path=str(SHOTS / "e2e-issue14-rolling-plan.png"), full_page=True)
    page.get_by_test_id("apply").click()

    expect(page.get_by_test_id("release-paused")).to_be_visible(timeout=SLOW)
    expect(page.get_by_test_id("release-resume")).to_be_visible()
    expect(page.get_by_test_id("release-pause")).to_be_hidden()
    expect(page.locator("#events")).to_contain_text("batch 1 failed")
    page.screenshot(path=str(SHOTS / "e2e-issue14-paused.png"), full_page=True)

    # Resume: the batch is tried again, fails again, and the release pauses again, all live.
    page.get_by_test_id("release-resume").click()
    expect(page.locator("#events")).to_contain_text("Resumed.", timeout=SLOW)
    expect(page.get_by_test_id("release-paused")).to_be_visible(timeout=SLOW)

    page.get_by_test_id("release-abort").click()
    expect(page.locator("#release-status")).to_have_text("canceled", timeout=SLOW)
    expect(page.get_by_test_id("release-abort")).to_be_hidden()
    expect(page.get_by_test_id("release-resume")).to_be_hidden()
    names = sorted(Container.objects.filter(service__application=app, state="running").values_list("name", flat=True))
    assert names == [f"tide_web_{i}" for i in range(1, 5)]

    # A read-only sub-account sees a paused release, and controls that say which action they need.
    ram.create_subaccount(owner, name="viewer", password=PASSWORD)
    ram.grant(owner, "user:viewer", cluster, "read-only")
    again = operations.update_application(owner, app, compose=compose("3", health="false"))
    assert isinstance(again, Release)
    harness.wait_until(lambda: Release.objects.get(pk=again.pk).paused, 60, 0.2, "the second update to pause")
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, stack.url, "viewer@acme")
    page.goto(f"{stack.url}/applications/{app.pk}/")
    expect(page.get_by_test_id("release-paused")).to_be_visible()
    expect(page.get_by_test_id("release-resume")).to_be_disabled()
    expect(page.get_by_test_id("release-resume")).to_have_attribute("data-needs", "cs:ControlRelease")
    expect(page.get_by_test_id("release-abort")).to_have_attribute("data-needs", "cs:CancelRelease")
    page.screenshot(path=str(SHOTS / "e2e-issue14-read-only.png"), full_page=True)
    operations.request_cancel(owner, again)
    assert harness.wait_until(lambda: Release.objects.get(pk=again.pk).status in Release.TERMINAL, 30, 0.2, "abort")
