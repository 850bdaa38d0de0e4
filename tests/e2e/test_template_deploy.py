"""In Chromium: write a template, see its services and parameters, fill the parameter form, read the plan,
deploy, and watch the progress live."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from apps.models import Application
from clusters.operations import ensure_local_cluster
from tests import harness
from tests.conftest import PASSWORD, make_tenant, ours
from tests.registry import Registry, build_image

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TEMPLATE = """services:
  web:
    image: local/busybox:1
    command: httpd -f -p 80 -h /www
    ports: ["80"]
    depends_on: [api]
    environment:
      GREETING: ${{GREETING:?say something}}
    labels:
      aliyun.scale: "2"
  api:
    image: {api_image}
    command: sleep 3600
    init: true
"""


def test_template_to_live_deploy(stack: harness.Stack, page: Page, registry: Registry) -> None:
    page.set_default_timeout(30_000)
    registry.push("berth/api", "1", build_image((800_000, 1_200_000), marker="api"))
    template = TEMPLATE.format(api_image=registry.ref("berth/api"))
    owner = make_tenant("acme")
    ensure_local_cluster(owner.tenant)
    page.goto(stack.url + "/login/")
    page.get_by_label("User name").fill("admin@acme")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.locator("nav.sidenav").get_by_role("link", name="Templates").click()
    expect(page.locator('tr[data-sample="three-tier"]')).to_be_visible()
    page.get_by_role("link", name="Create template").click()
    page.get_by_label("Name").fill("stack")
    page.get_by_label("Compose file").fill(template.replace("depends_on: [api]", "depends_on: [nope]"))
    page.get_by_role("button", name="Save").click()
    error = page.get_by_test_id("error-compose")
    expect(error).to_have_count(1)
    expect(error).to_contain_text("services.web.depends_on")  # the error names service and key
    page.get_by_label("Compose file").fill(template)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("graph")).to_contain_text("depends on api")

    page.get_by_role("link", name="Deploy").click()
    page.get_by_label("Application name").fill("greeter")
    page.get_by_label("GREETING").fill("hola")
    page.get_by_test_id("show-plan").click()
    plan = page.get_by_test_id("plan")
    expect(plan.locator('tr[data-plan-service="web"]')).to_contain_text("greeter_web_2")
    expect(page.get_by_test_id("missing-images")).to_contain_text(registry.ref("berth/api"))
    assert not Application.objects.filter(name="greeter").exists()
    page.get_by_test_id("apply").click()

    # The api image comes from the registry at 1 MB/s: its pull shows a live bar with its layers.
    expect(page.get_by_role("heading", name=re.compile("greeter"))).to_be_visible()
    pull = page.locator("#pulls .pull")
    page.wait_for_function(
        """() => { const bar = document.querySelector('#pulls .pull [role=progressbar]');
                   const now = bar && Number(bar.getAttribute('aria-valuenow'));
                   return now > 0 && now < 100; }"""
    )
    expect(pull.locator(".layers li")).to_have_count(3)
    expect(pull.locator(".pull-status")).to_have_text("pulled")
    expect(pull.locator("[role=progressbar]")).to_have_attribute("aria-valuenow", "100")
    expect(pull).to_contain_text("3/3 layers")
    expect(page.locator("#release-progress")).to_have_attribute("aria-valuenow", "100", timeout=30_000)
    for name in ("greeter_web_1", "greeter_web_2", "greeter_api_1"):
        expect(page.locator(f'tr[data-container="{name}"] .state')).to_have_text("running", timeout=30_000)
    expect(page.locator('tr[data-service="web"]')).to_contain_text("2")
    page.screenshot(path=str(harness.LOG_DIR / "e2e-template.png"), full_page=True)

    # Update with a plan: a new value recreates the web containers only.
    page.get_by_test_id("action-update").click()
    page.get_by_label("Variables").fill("GREETING=adios")
    page.get_by_test_id("show-plan").click()
    web_plan = page.get_by_test_id("plan").locator('tr[data-plan-service="web"]')
    expect(web_plan).to_contain_text("greeter_web_1 @")
    expect(page.get_by_test_id("plan").locator('tr[data-plan-service="api"]')).not_to_contain_text("greeter_api_1 @")
    page.get_by_test_id("apply").click()
    expect(page.locator("#release-kind")).to_have_text("update")
    expect(page.locator("#release-status")).to_have_text("successful")
    import docker

    envs = [
        c.attrs["Config"]["Env"]
        for c in docker.from_env().containers.list(
            filters={"label": [*ours()["label"], "com.docker.compose.service=web"]}, ignore_removed=True
        )
        if c.name.startswith("greeter_")
    ]
    assert envs and all("GREETING=adios" in e for e in envs)
