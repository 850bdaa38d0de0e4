"""Every page a user can reach answers below 500 and renders without template errors, as the three personas see
it, after each thing a user does: deploy, scale, stop, delete, node provision and node removal.

Template errors raise in tests (``string_if_invalid`` in tests/settings.py), and the test client re-raises what a
view raised, so a page that would show "Server Error (500)" fails here with its traceback. Pages of deleted things
answer 404.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import urldefrag, urlsplit

import pytest
from django.test import Client

from accounts import operations as ram
from accounts.models import User
from apps.models import Application, Release
from apps.operations import delete_application, scale_service, stop_application
from clusters import hostaccess
from clusters import operations as ops
from clusters.models import Cluster, Node, NodeTask
from tests import harness
from tests.conftest import PASSWORD
from tests.integration.conftest import wait_release

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LINK = re.compile(r"""href=["']([^"'#]+)["']""")
SKIP = ("/static/", "/logout", "/api/", "/ws/", "/admin/", "/favicon")
MAX_PAGES = 400  # bounds one crawl; a console of this size has far fewer
STACK = """
services:
  web:
    image: local/busybox:1
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    ports: ["80"]
  worker:
    image: local/busybox:1
    command: ["sleep", "3600"]
    environment:
      SECRET_TOKEN: s3cr3t-value
"""


@dataclass
class Crawl:
    """What one persona reached: every URL with its status."""

    statuses: dict[str, int] = field(default_factory=dict)

    def ok(self) -> list[str]:
        return [url for url, status in self.statuses.items() if status == 200]


def crawl(client: Client, start: tuple[str, ...] = ("/",)) -> Crawl:
    """Follow every same-site link from ``start`` (GET only); fail on any answer of 500 or more."""
    seen = Crawl()
    queue: deque[str] = deque(start)
    while queue and len(seen.statuses) < MAX_PAGES:
        url = queue.popleft()
        if url in seen.statuses:
            continue
        response = client.get(url)
        seen.statuses[url] = response.status_code
        assert response.status_code < 500, f"{url} answered {response.status_code}"
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        for href in LINK.findall(response.content.decode(errors="replace")):
            target = urldefrag(unescape(href))[0]
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith(SKIP):
                continue
            if "export=" in parts.query:
                continue
            if target not in seen.statuses:
                queue.append(target)
    assert len(seen.statuses) < MAX_PAGES, "the crawl did not end: a page links to endless new URLs"
    return seen


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@dataclass
class Personas:
    owner: User
    reader: User
    stranger: User

    def clients(self) -> dict[str, Client]:
        return {"owner": signed_in(self.owner), "reader": signed_in(self.reader), "stranger": signed_in(self.stranger)}


@pytest.fixture
def personas(stack: harness.Stack, owner: User, outsider: User) -> Iterator[Personas]:
    cluster = ops.ensure_local_cluster(owner.tenant, actor=owner)
    ram.create_subaccount(owner, name="reader", password=PASSWORD)
    ram.grant(owner, "user:reader", cluster, "read-only")
    yield Personas(owner, User.objects.get(tenant=owner.tenant, name="reader"), outsider)


def check_everyone(personas: Personas, must_see: tuple[str, ...] = (), gone: tuple[str, ...] = ()) -> None:
    """Crawl as each persona; the owner and reader reach ``must_see``; nobody reaches ``gone``; the stranger
    gets 404 for every page of the owner's objects."""
    results = {name: crawl(client) for name, client in personas.clients().items()}
    owner_pages = results["owner"].ok()
    for url in must_see:
        assert results["owner"].statuses.get(url) == 200, f"owner did not reach {url}"
        assert results["reader"].statuses.get(url) == 200, f"reader did not reach {url}"
    for url in gone:
        for name, client in personas.clients().items():
            assert client.get(url).status_code == 404, f"{name}: {url} of a deleted object does not answer 404"
    stranger = signed_in(personas.stranger)
    own_objects = [url for url in owner_pages if re.search(r"/\d+/", url)]
    assert own_objects, "the owner's crawl found no object pages"
    for url in own_objects:
        assert stranger.get(url).status_code in (404, 302), f"the stranger reached {url}"


def app_pages(app: Application) -> tuple[str, ...]:
    return (f"/applications/{app.pk}/",)


def test_every_page_renders_for_every_persona_through_an_applications_life(personas: Personas) -> None:
    owner = personas.owner
    cluster = Cluster.objects.get(tenant=owner.tenant, name="local")
    api = signed_in(owner)
    check_everyone(personas)  # the empty console

    response = api.post(
        f"/api/v1/clusters/{cluster.pk}/applications",
        {"name": "crawled", "compose": STACK},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    assert wait_release(response.json()["id"]).status == "successful"
    app = Application.objects.get(tenant=owner.tenant, name="crawled")
    check_everyone(personas, must_see=app_pages(app))

    release = scale_service(owner, app, "web", 2)
    assert wait_release(release.pk).status == "successful"
    check_everyone(personas, must_see=app_pages(app))

    release = stop_application(owner, app)
    assert wait_release(release.pk).status == "successful"
    check_everyone(personas, must_see=app_pages(app))

    release = delete_application(owner, Application.objects.get(pk=app.pk))
    assert wait_release(release.pk).status == "successful"
    check_everyone(personas, gone=app_pages(app))
    assert Release.objects.filter(application_id=app.pk).exists()


def wait_task(task_id: int, timeout: float = 180.0) -> NodeTask:
    def done() -> NodeTask | None:
        task = NodeTask.objects.get(pk=task_id)
        return task if task.status in NodeTask.TERMINAL else None

    return harness.wait_until(done, timeout, 0.5, f"node task {task_id}")


def test_every_page_renders_for_every_persona_through_a_nodes_life(personas: Personas) -> None:
    owner = personas.owner
    edge = ops.create_cluster(owner, name="edge")
    ram.grant(owner, "user:reader", edge, "read-only")
    hostaccess.grant(owner.tenant)  # the local provider starts engines on this machine: the operator's grant
    task = ops.provision_node(owner, edge, name="edge1")
    provisioned = wait_task(task.pk)
    node = Node.objects.filter(cluster=edge, name="edge1").first()
    try:
        assert provisioned.status == "successful", provisioned.error
        assert node is not None
        check_everyone(personas, must_see=(f"/clusters/{edge.pk}/", f"/clusters/nodes/{node.pk}/"))

        removal = wait_task(ops.remove_node(owner, node, drain=True).pk)
        assert removal.status == "successful", removal.error
        check_everyone(personas, must_see=(f"/clusters/{edge.pk}/",))
        body = signed_in(owner).get(f"/clusters/{edge.pk}/").content.decode()
        assert "edge1" in body  # the finished tasks still name the node they worked on
    finally:
        if node is not None and node.provider_ref:
            harness.run_script("netns-node.sh", "down", node.provider_ref)
