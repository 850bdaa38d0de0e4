"""In Chromium (issue 14): a rolling update's plan shows its batches; the application page shows the release paused
after a failed batch, with Resume and Abort; Pause waits before the next batch; Abort ends it, and the containers that
ran before still run. A read-only sub-account sees the controls disabled, naming the action they need."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from rest_framework.test import APIClient

from accounts import operations as ram
from accounts.models import AccessKey, User
from apps import operations
from apps.models import Application, Container, Release
from clusters.models import Cluster
from clusters.operations import create_cluster, ensure_local_cluster, register_node
from routing import operations as routing
from tests import harness
from tests.conftest import PASSWORD, make_tenant
from tests.e2e.test_console_live import SHOTS, SLOW, sign_in
from tests.integration.test_cluster_network import nodes_in_namespaces, reset, wait_joined
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


@pytest.fixture(scope="module")
def engines(services: None) -> Iterator[dict[str, harness.NetnsNode]]:
    """Two nodes in network namespaces: routing needs the cluster network, and this machine's engine is no swarm's."""
    yield from nodes_in_namespaces({"a": 147, "b": 148})


def test_a_blue_green_release_is_chosen_on_the_update_page_shifted_with_the_slider_and_confirmed(
    stack: harness.Stack, page: Page, engines: dict[str, harness.NetnsNode]
) -> None:
    page.set_default_timeout(30_000)
    owner = make_tenant("acme")
    cluster = create_cluster(owner, name="bg", network_mode="overlay")
    try:
        for name, node in engines.items():
            register_node(owner, cluster, name=name, endpoint=node.endpoint, publish_ip=node.address)
        key, secret = AccessKey.objects.issue(owner)
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.key_id}:{secret}")
        wait_joined(api, cluster, set(engines))
        routing.configure(owner, cluster, {"enabled": True})
        blue_green_in_the_browser(stack, page, owner, cluster)
    finally:
        reset(cluster, engines.values())


def blue_green_in_the_browser(stack: harness.Stack, page: Page, owner: User, cluster: Cluster) -> None:
    text = ROUTED.replace("VERSION", "v1")
    release = operations.deploy_compose(owner, cluster, name="tint", compose=text)
    done = harness.wait_until(lambda: Release.objects.filter(pk=release.pk, status__in=Release.TERMINAL).first(), 120)
    assert done.status == "successful", done.error
    app = Application.objects.get(name="tint", deleted_at__isnull=True)
    sign_in(page, stack.url)

    page.goto(f"{stack.url}/applications/{app.pk}/update/")
    page.get_by_label("Compose file").fill(ROUTED.replace("VERSION", "v2"))
    page.get_by_label("Blue-green: the new version beside the old one").check()
    page.get_by_test_id("show-plan").click()
    expect(page.get_by_test_id("plan-strategy")).to_contain_text("Blue-green")
    page.get_by_test_id("apply").click()

    box = page.get_by_test_id("side-by-side")
    expect(box).to_contain_text("blue-green", timeout=SLOW)
    expect(page.get_by_test_id("release-confirm")).to_be_visible(timeout=SLOW)
    expect(box.get_by_role("link", name=re.compile(r"preview\.web\.bg\.localhost"))).to_be_visible()
    expect(page.get_by_test_id("release-pause")).to_be_hidden()  # a blue-green release is shifted, not paused
    page.get_by_test_id("weight-slider").fill("50")
    page.get_by_test_id("set-weight").click()
    expect(page.get_by_test_id("sbs-weight")).to_have_text("50")
    running = Container.objects.filter(service__application=app).order_by("name")
    assert [(c.name, c.traffic_weight) for c in running] == [
        ("tint_web_1", 50),
        ("tint_web_1-1", 50),
    ]
    expect(page.locator('tr[data-container="tint_web_1-1"] [data-share]')).to_have_text("new · 50%")
    expect(page.locator('tr[data-container="tint_web_1"] [data-share]')).to_have_text("old · 50%")
    page.screenshot(path=str(SHOTS / "e2e-issue14-blue-green.png"), full_page=True)

    page.get_by_test_id("release-confirm").click()
    expect(page.locator("#release-status")).to_have_text("successful", timeout=SLOW)
    expect(page.get_by_test_id("release-confirm")).to_be_hidden()
    expect(page.locator('tr[data-container="tint_web_1"]')).to_have_count(0, timeout=SLOW)
    expect(page.locator('tr[data-container="tint_web_1-1"]')).to_be_visible()
    expect(page.locator('tr[data-container="tint_web_1-1"] [data-share]')).to_be_hidden()


ROUTED = """
services:
  web:
    image: local/netbox:1
    command: sh -c 'echo VERSION > /www/index.html && exec httpd -f -p 80 -h /www'
    expose: ["80"]
    stop_grace_period: 1s
    labels:
      aliyun.routing.port_80: "web"
"""
