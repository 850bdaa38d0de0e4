"""Pulling images from a registry (tests/registry.py on 127.0.0.1): live progress per layer, a new image
under the same tag recreates containers, redeploy makes a version, rollback runs exactly the old digest."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import docker
import pytest
import websockets
from django.conf import settings
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from apps.models import Application, AppVersion, ReleaseEvent
from clusters.models import Cluster
from tests import harness
from tests.conftest import ours
from tests.integration.conftest import wait_release
from tests.integration.test_live import session_cookie, ws_url
from tests.registry import Registry, build_image

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

COMPOSE = """
services:
  web:
    image: {image}
    command: httpd -f -p 80 -h /www
    labels:
      aliyun.scale: "2"
      aliyun.latest_image: "true"
  side:
    image: local/busybox:1
    command: sleep 3600
    init: true
    environment:
      - "NOTE=${{NOTE:-one}}"
"""


class Listener:
    """Collects an application's live messages from the real websocket, in a thread."""

    def __init__(self, stack: harness.Stack, cookie: str, app_id: int) -> None:
        self.messages: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=asyncio.run, args=(self._listen(ws_url(stack), cookie, app_id),))
        self.thread.start()
        assert self.ready.wait(10), "websocket did not subscribe"

    async def _listen(self, url: str, cookie: str, app_id: int) -> None:
        headers = {"Cookie": cookie}
        origin = "http://" + url.split("/")[2]  # the console's own origin, port included
        async with websockets.connect(url, origin=origin, additional_headers=headers) as ws:
            await ws.send(json.dumps({"action": "subscribe", "type": "application", "id": app_id, "since": 0}))
            while not self.stop.is_set():
                try:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 0.2))
                except TimeoutError:
                    continue
                if message.get("type") == "subscribed":
                    self.ready.set()
                self.messages.append(message)

    def close(self) -> list[dict[str, Any]]:
        self.stop.set()
        self.thread.join(10)
        return self.messages


def image_ids(app_id: int, service: str) -> set[str]:
    client = docker.from_env()
    found = client.containers.list(filters=ours(application=app_id, service=service), ignore_removed=True)
    return {c.attrs["Image"] for c in found}


def local_id(reference: str) -> str:
    return docker.from_env().images.get(reference).id


def test_pulls_show_progress_and_versions_keep_exact_images(
    stack: harness.Stack, cluster: Cluster, api: APIClient, owner: User, registry: Registry
) -> None:
    first = registry.push("berth/web", "1", build_image((900_000, 1_200_000), marker="one", seed=1))
    ref = registry.ref("berth/web")
    url = f"/api/v1/clusters/{cluster.pk}/applications"

    # The plan says the image is missing on the node; the deploy pulls it, and the page hears each layer.
    body = {"name": "pulls", "compose": COMPOSE.format(image=ref)}
    plan = api.post(url + "?dry_run=true", body, format="json").json()
    node = cluster.nodes.get().name
    assert plan["missing_images"] == {node: [ref]}
    started = time.monotonic()
    created = api.post(url, body, format="json")
    assert created.status_code == 202, created.content
    app = Application.objects.get(name="pulls")
    listener = Listener(stack, session_cookie(owner), app.pk)
    try:
        release = wait_release(created.json()["id"])
    finally:
        messages = listener.close()
    assert release.status == "successful", release.error
    assert time.monotonic() - started > 1.5, "the registry sends ~2 MB at 1 MB/s: the pull was really paced"
    pulls = [m for m in messages if m["type"] == "pull" and m["image"] == ref]
    moving = [m for m in pulls if m["status"] == "pulling" and 0 < m["percent"] < 100]
    assert moving, f"no pull progress seen: {pulls[:3]}"
    assert any(layer["status"] == "Downloading" and layer["total"] for m in moving for layer in m["layers"])
    assert [m["percent"] for m in pulls] == sorted(m["percent"] for m in pulls)
    assert pulls[-1]["status"] == "done" and pulls[-1]["percent"] == 100 and pulls[-1]["layers_total"] == 3
    pulled = ReleaseEvent.objects.filter(release=release, message__startswith=f"Pulled {ref} on {node}: 3 layer(s)")
    assert pulled.exists(), list(ReleaseEvent.objects.filter(release=release).values_list("message", flat=True))
    assert image_ids(app.pk, "web") == {local_id(ref)}
    v1 = AppVersion.objects.get(application=app, number=1)
    assert v1.digests["web"] == f"{registry.host}/berth/web@{first}"

    # A new image under the same tag: an update that does not touch web still pulls it (latest_image)
    # and recreates web from it; side's new variable recreates side.
    second = registry.push("berth/web", "1", build_image((900_000, 1_300_000), marker="two", seed=2))
    updated = wait_release(api.patch(f"{url}/pulls", {"variables": {"NOTE": "two"}}, format="json").json()["id"])
    assert updated.status == "successful", updated.error
    assert image_ids(app.pk, "web") == {local_id(ref)} != {local_id(f"{registry.host}/berth/web@{first}")}
    assert ReleaseEvent.objects.filter(release=updated, message__contains="its image is new").count() == 2
    assert AppVersion.objects.get(application=app, number=2).digests["web"].endswith(second)

    # Redeploy after another push: a new version records the new digest, the old ones keep theirs.
    third = registry.push("berth/web", "1", build_image((900_000,), marker="three", seed=3))
    redeployed = wait_release(api.post(f"{url}/pulls/redeploy").json()["id"])
    assert redeployed.status == "successful", redeployed.error
    versions = {v["version"]: v for v in api.get(f"{url}/pulls/versions").json()["results"]}
    assert versions[3]["digests"]["web"].endswith(third) and versions[3]["note"] == "redeploy: new images"
    assert versions[2]["digests"]["web"].endswith(second)

    # Rollback to v1 runs exactly v1's image, though the tag now points to the third one.
    back = wait_release(api.post(f"{url}/pulls/rollback", {"version": 1}, format="json").json()["id"])
    assert back.status == "successful", back.error
    pinned = f"{registry.host}/berth/web@{first}"
    assert image_ids(app.pk, "web") == {local_id(pinned)}
    detail = api.get(f"{url}/pulls").json()
    web = next(s for s in detail["services"] if s["name"] == "web")
    assert web["image"] == ref and web["pinned_image"] == pinned
    assert AppVersion.objects.get(application=app, number=4).digests["web"] == pinned
    page = Client()
    page.force_login(owner)
    html = page.get(reverse("apps:detail", args=[app.pk])).content.decode()
    assert "pinned by a rollback to" in html and first[:19] in html

    # Redeploy lets the pin go: the tag again.
    again = wait_release(api.post(f"{url}/pulls/redeploy").json()["id"])
    assert again.status == "successful", again.error
    assert image_ids(app.pk, "web") == {local_id(ref)}
    services = {s["name"]: s for s in api.get(f"{url}/pulls").json()["services"]}
    assert services["web"]["pinned_image"] == ""


def test_an_image_no_registry_has_fails_and_leaves_nothing(
    stack: harness.Stack, cluster: Cluster, api: APIClient, registry: Registry
) -> None:
    missing = registry.ref("berth/nothing", "9")
    body = {"name": "nopull", "compose": f"services:\n  web:\n    image: {missing}\n    command: sleep 60\n"}
    release = wait_release(api.post(f"/api/v1/clusters/{cluster.pk}/applications", body, format="json").json()["id"])
    assert release.status == "failed"
    # In words a tenant may read (Docker's own text, which names this machine's resolver, goes to the server log).
    assert missing in release.error and "has no image" in release.error, release.error
    assert ": Nothing" not in release.error and ". Nothing was deployed" in release.error
    assert not docker.from_env().containers.list(
        all=True, filters=ours(application=release.application_id), ignore_removed=True
    )


def test_a_registry_that_stops_sending_is_named_not_the_engine(stack: harness.Stack, registry: Registry) -> None:
    from clusters import docker_host as host

    registry.push("berth/slow", "1", build_image((300_000,), marker="slow", seed=7))
    registry.stalled.set()
    try:
        endpoint = host.Endpoint(url=settings.BERTH_LOCAL_DOCKER_URL)
        started = time.monotonic()
        with pytest.raises(host.HostError) as failure:
            host.pull_image(endpoint, registry.ref("berth/slow"), stall_timeout=3)
        assert time.monotonic() - started < 15
        assert not isinstance(failure.value, host.HostUnreachable)
        assert "made no progress for 3 s (the registry is slow or does not answer)" in str(failure.value)
    finally:
        registry.stalled.clear()
