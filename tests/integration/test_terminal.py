"""The web terminal and one-off commands in a container (issue 15): a real shell in a real container on the local
engine, through the real ASGI application (origin check, session sign-in, the consumer); allowed by
``cs:ExecContainer`` only, each session and each refusal on record."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import docker
import pytest
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from accounts import operations as ram
from accounts.models import User
from apps.models import Application
from clusters.models import Cluster
from console import context
from console.asgi import application
from console.models import OperationLog
from tests import harness
from tests.conftest import PASSWORD, make_tenant
from tests.integration.conftest import wait_release
from tests.security.live_sockets import HOST, ORIGIN, memory_layer, session_cookie

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("memory_layer")]
__all__ = ["memory_layer"]

APP = "services:\n  box:\n    image: local/busybox:1\n    command: sleep 600\n    init: true\n"


@pytest.fixture
def box(api: APIClient, cluster: Cluster) -> Application:
    made = api.post(f"/api/v1/clusters/{cluster.pk}/applications", {"name": "tty", "compose": APP}, format="json")
    assert made.status_code == 202, made.content
    assert wait_release(made.json()["id"], 120).status == "successful"
    return Application.objects.get(cluster=cluster, name="tty", deleted_at__isnull=True)


def socket_of(user: User, app: Application, container: str = "tty_box_1") -> WebsocketCommunicator:
    headers = [(b"host", HOST.encode()), (b"origin", ORIGIN.encode()), (b"cookie", session_cookie(user).encode())]
    socket = WebsocketCommunicator(application, f"/ws/terminal/{app.pk}/{container}/?cols=100&rows=30", headers=headers)
    socket.scope["client"] = ["127.0.0.1", 50000]
    context.begin(src="system")
    return socket


async def read_until(socket: WebsocketCommunicator, wanted: bytes, timeout: float = 10.0) -> tuple[bytes, Any]:
    """What the terminal sent until ``wanted`` shows (or it closed: then the close comes back too)."""
    seen = b""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while wanted not in seen:
        output = await socket.receive_output(timeout=max(0.1, deadline - loop.time()))
        if output["type"] == "websocket.close":
            return seen, output
        seen += output.get("bytes") or (output.get("text") or "").encode()
    return seen, None


def test_a_terminal_runs_commands_is_on_record_and_closes_when_idle(
    box: Application, owner: User, settings: Any
) -> None:
    async def session() -> bytes:
        socket = socket_of(owner, box)
        assert (await socket.connect())[0]
        await socket.send_to(text_data='{"resize": [120, 40]}')
        await socket.send_to(bytes_data=b"stty size; echo berth-$((6*7))\n")
        seen, closed = await read_until(socket, b"berth-42")
        assert closed is None, seen
        await socket.send_to(bytes_data=b"exit\n")
        rest, closed = await read_until(socket, b"never shown")
        assert closed is not None and closed["code"] == 4000
        return seen + rest

    seen = asyncio.run(session())
    assert b"40 120" in seen  # the resize reached the shell's terminal
    entries = list(OperationLog.objects.filter(action="cs:ExecContainer", target="tty_box_1").order_by("seq"))
    assert [e.parameters["session"] for e in entries] == ["started", "ended"]
    assert entries[1].parameters["reason"] == "the shell exited" and entries[0].actor_id == owner.pk

    settings.BERTH_TERMINAL_IDLE_SECONDS = 1.0

    async def idle() -> bytes:
        socket = socket_of(owner, box)
        assert (await socket.connect())[0]
        seen, closed = await read_until(socket, b"never shown", timeout=15)
        assert closed is not None and closed["code"] == 4000
        return seen

    box_container = docker.from_env().containers.get("tty_box_1")
    baseline = len(box_container.top()["Processes"])
    assert b"closed after 1 s without input or output" in asyncio.run(idle())
    assert OperationLog.objects.filter(action="cs:ExecContainer", parameters__reason="idle").count() == 1
    # The closed session's shell is gone from the container (its input ended), not left running.
    harness.wait_until(lambda: len(box_container.top()["Processes"]) == baseline, 10, 0.3, "the shell to end")


def test_a_read_only_sub_account_and_another_tenant_are_refused_on_record(
    box: Application, owner: User, cluster: Cluster
) -> None:
    ram.create_subaccount(owner, name="looker", password=PASSWORD)
    ram.grant(owner, "user:looker", cluster, "read-only")
    looker = User.objects.get(tenant=owner.tenant, name="looker")
    stranger = make_tenant("globex")

    async def refused(user: User) -> bytes:
        socket = socket_of(user, box)
        assert (await socket.connect())[0]
        seen, closed = await read_until(socket, b"never shown")
        assert closed is not None and closed["code"] == 4403
        return seen

    assert b"Refused" in asyncio.run(refused(looker))
    assert b"Refused" in asyncio.run(refused(stranger))
    denied = OperationLog.objects.filter(action="cs:ExecContainer", outcome="denied", actor=looker)
    assert denied.exists()
    assert not OperationLog.objects.filter(action="cs:ExecContainer", outcome="success").exists()

    # The page: 403 for the read-only sub-account (on record), 404 for the other tenant.
    page = f"/applications/{box.pk}/containers/tty_box_1/terminal/"
    as_looker, as_stranger = APIClient(), APIClient()
    as_looker.force_login(looker)
    as_stranger.force_login(stranger)
    assert as_looker.get(page).status_code == 403
    assert as_stranger.get(page).status_code == 404
    assert (
        b'data-testid="open-terminal" disabled'
        in as_looker.get(f"/applications/{box.pk}/containers/tty_box_1/").content
    )

    # The one-off command: refused to both, with a clear answer.
    url = f"/api/v1/clusters/{cluster.pk}/applications/tty/containers/tty_box_1/exec"
    as_looker.force_authenticate(looker)
    as_stranger.force_authenticate(stranger)
    assert as_looker.post(url, {"command": ["id"]}, format="json").status_code == 403
    assert as_stranger.post(url, {"command": ["id"]}, format="json").status_code == 404


def test_a_one_off_command_answers_its_exit_code_and_output_and_names_only_the_program(
    api: APIClient, box: Application, cluster: Cluster
) -> None:
    url = f"/api/v1/clusters/{cluster.pk}/applications/tty/containers/tty_box_1/exec"
    ran = api.post(url, {"command": ["sh", "-c", "echo s3cret-value; exit 4"]}, format="json")
    assert ran.status_code == 200, ran.content
    assert ran.json() == {"exit_code": 4, "output": "s3cret-value\n", "truncated": False, "timed_out": False}
    entry = OperationLog.objects.filter(action="cs:ExecContainer").latest("seq")
    assert entry.parameters == {"command": "sh", "arguments": 2} and entry.outcome == "success"
    assert "s3cret" not in str(OperationLog.objects.filter(action="cs:ExecContainer").values())

    # A command that outlives its timeout: answered at the timeout, said so, on record as such.
    began = time.monotonic()
    slow = api.post(url, {"command": ["sh", "-c", "echo started; sleep 20"], "timeout": 1}, format="json")
    assert time.monotonic() - began < 8, "the timeout was not kept"
    assert slow.status_code == 200 and slow.json()["timed_out"] is True and slow.json()["exit_code"] is None
    assert slow.json()["output"] == "started\n"
    late = OperationLog.objects.filter(action="cs:ExecContainer").latest("seq")
    assert late.outcome == "failure" and late.error == "still running after 1 s"

    for body, field in (
        ({"command": []}, "command"),
        ({"command": ["id"], "timeout": 0}, "timeout"),
        ({"command": ["id"], "shell": True}, "shell"),
        ({"command": "id"}, "command"),
    ):
        bad = api.post(url, body, format="json")
        assert bad.status_code == 400 and field in bad.content.decode(), (body, bad.content)
    missing = f"/api/v1/clusters/{cluster.pk}/applications/tty/containers/tty_box_9/exec"
    assert api.post(missing, {"command": ["id"]}, format="json").status_code == 404
