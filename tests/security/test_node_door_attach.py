"""Attack tests: the attach token is used up by its first use, bound to one address, retries are limited, the
anonymous calls are logged honestly with the caller's address, and the attach command cannot carry shell code
(security issue 9, item 11 and its Low item)."""

from __future__ import annotations

import io
import shlex
import tarfile

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from clusters import attach, hostaccess
from clusters import operations as ops
from clusters.models import AttachToken, Cluster, Node
from console.models import OperationLog
from tests.security.node_door_support import bare_namespace, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def cluster(owner: User) -> Cluster:
    return ops.create_cluster(owner, name="prod")


def certificates(token: str, address: str) -> tuple[int, bytes]:
    response = APIClient().post(f"/api/v1/attach/{token}/certificates", {"address": address})
    return response.status_code, response.content


def register(token: str, address: str) -> tuple[int, str]:
    response = APIClient().post(f"/api/v1/attach/{token}/register", {"address": address, "name": "host"})
    return response.status_code, response.content.decode()


def test_attach_token_is_bound_to_the_first_address_and_limited(owner: User, cluster: Cluster) -> None:
    token = attach.attach_command(owner, cluster, console_url="http://127.0.0.1:8000")["token"]
    status, body = certificates(token, "10.250.65.2")
    assert status == 200
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        assert sorted(archive.getnames()) == ["ca.pem", "cert.pem", "key.pem"]
    # Server certificates for any other address: refused.
    for address in ("10.250.65.3", "192.0.2.77"):
        status, body = certificates(token, address)
        assert status == 403 and b"another host" in body
    # The same host may fetch again (a rerun of the script), a limited number of times in all.
    assert certificates(token, "10.250.65.2")[0] == 200
    assert certificates(token, "10.250.65.2")[0] == 200
    status, body = certificates(token, "10.250.65.2")
    assert status == 403 and b"already been used" in body
    assert AttachToken.objects.get().used_at is not None


def test_attach_register_only_for_the_bound_address(owner: User, cluster: Cluster) -> None:
    token = attach.attach_command(owner, cluster, console_url="http://127.0.0.1:8000")["token"]
    status, text = register(token, "10.250.65.2")
    assert status == 403 and "certificates first" in text
    assert certificates(token, "10.250.65.2")[0] == 200
    status, text = register(token, "10.250.65.9")
    assert status == 403 and "another host" in text
    assert not Node.objects.exists()


def test_attach_certificates_refuse_this_machines_addresses(owner: User, cluster: Cluster) -> None:
    token = attach.attach_command(owner, cluster, console_url="http://127.0.0.1:8000")["token"]
    status, body = certificates(token, "127.0.0.1")
    assert status == 403 and body.decode().strip() == str(hostaccess.REFUSED)
    assert AttachToken.objects.get().bound_address is None


def test_anonymous_attach_steps_are_logged_for_the_token_with_the_callers_address(
    owner: User, cluster: Cluster
) -> None:
    token = attach.attach_command(owner, cluster, console_url="http://127.0.0.1:8000")["token"]
    certificates(token, "10.250.65.2")
    certificates(token, "10.250.65.3")
    entries = list(OperationLog.objects.filter(action="cs:AttachNode").order_by("seq"))
    assert [e.outcome for e in entries] == ["success", "failure"]
    for entry in entries:
        assert entry.actor is None and entry.actor_name == "attach-token" and entry.actor_kind == "system"
        assert entry.source == "trigger" and entry.source_ip == "127.0.0.1"
        assert entry.parameters["command_by"] == owner.login and entry.parameters["step"] == "certificates"
        assert token not in str(entry.parameters)
    assert [e.parameters["address"] for e in entries] == ["10.250.65.2", "10.250.65.3"]


def test_failed_registrations_use_the_token_up_after_three_tries(services: None, owner: User, cluster: Cluster) -> None:
    token = attach.attach_command(owner, cluster, console_url="http://127.0.0.1:8000")["token"]
    with bare_namespace(66) as address:  # a host whose engine does not listen: every register fails
        assert certificates(token, address)[0] == 200
        for _attempt in range(3):
            status, text = register(token, address)
            assert status == 403 and text.strip() == str(hostaccess.REFUSED)
        status, text = register(token, address)
    assert status == 403 and "already been used" in text
    found = AttachToken.objects.get()
    assert found.failed_registrations == 3 and found.used_at is not None
    failures = OperationLog.objects.filter(action="cs:AddClusterNodes", outcome="failure")
    assert failures.count() == 3
    assert {(e.actor_name, e.source, e.source_ip) for e in failures} == {("attach-token", "trigger", "127.0.0.1")}
    assert {e.parameters["command_by"] for e in failures} == {owner.login}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/x';touch${IFS}/tmp/pwned;'",  # the issue's payload
        "http://127.0.0.1:8000/$(id)",
        "http://127.0.0.1:8000/`id`",
        "http://127.0.0.1:8000/a;b",
        "ftp://files.example.com",
        'http://a.example.com/x"y',
    ],
)
def test_attach_command_refuses_shell_metacharacters_in_the_console_url(
    owner: User, cluster: Cluster, url: str
) -> None:
    response = client_for(owner).post(
        f"/api/v1/clusters/{cluster.pk}/attach-command", {"console_url": url}, format="json"
    )
    assert response.status_code == 400 and "console_url" in response.json()
    assert not AttachToken.objects.exists()


def test_the_issues_payload_never_reaches_a_command_and_clean_ones_are_one_quoted_word(
    owner: User, cluster: Cluster
) -> None:
    api = client_for(owner)
    url = f"/api/v1/clusters/{cluster.pk}/attach-command"
    payload = "http://127.0.0.1:8000/x';touch${IFS}/tmp/pwned;'"
    assert api.post(url, {"console_url": payload}, format="json").status_code == 400
    response = api.post(url, {"console_url": "https://berth.example.com:8443/console/"}, format="json")
    assert response.status_code == 201
    words = shlex.split(response.json()["command"])
    assert words[:2] == ["curl", "-fsSL"] and words[3:] == ["|", "sudo", "sh"]
    assert words[2].startswith("https://berth.example.com:8443/console/api/v1/attach/")
    token = words[2].rsplit("/", 2)[1]
    script = APIClient().get(f"/api/v1/attach/{token}/script", HTTP_HOST="localhost").content.decode()
    assigned = dict(line.split("=", 1) for line in script.splitlines() if line.startswith(("URL=", "TOKEN=")))
    assert shlex.split(assigned["URL"]) == ["http://localhost"] and shlex.split(assigned["TOKEN"]) == [token]


# --- F11: bound to the caller's own address too; one server certificate per token -------------------------------


def members(body: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        return {name: archive.extractfile(name).read() for name in archive.getnames()}  # type: ignore[union-attr]


def test_attach_token_is_bound_to_the_callers_own_address(owner: User, cluster: Cluster) -> None:
    token = attach.attach_command(owner, cluster, console_url="http://127.0.0.1:8000")["token"]
    first = APIClient(REMOTE_ADDR="192.0.2.10")
    assert first.post(f"/api/v1/attach/{token}/certificates", {"address": "10.250.65.2"}).status_code == 200
    # Whoever else learns the command (same node address, another caller) gets nothing.
    thief = APIClient(REMOTE_ADDR="192.0.2.66")
    stolen = thief.post(f"/api/v1/attach/{token}/certificates", {"address": "10.250.65.2"})
    assert stolen.status_code == 403 and b"another address" in stolen.content
    assert b"PRIVATE KEY" not in stolen.content
    registered = thief.post(f"/api/v1/attach/{token}/register", {"address": "10.250.65.2", "name": "x"})
    assert registered.status_code == 403 and not Node.objects.exists()
    assert AttachToken.objects.get().bound_source == "192.0.2.10"
    entry = OperationLog.objects.filter(action="cs:AttachNode", outcome="failure").first()
    assert entry is not None and entry.source_ip == "192.0.2.66"


def test_a_rerun_of_the_script_gets_the_same_server_certificate(owner: User, cluster: Cluster) -> None:
    token = attach.attach_command(owner, cluster, console_url="http://127.0.0.1:8000")["token"]
    status, body = certificates(token, "10.250.65.2")
    again_status, again = certificates(token, "10.250.65.2")
    assert status == again_status == 200
    assert members(body)["key.pem"] == members(again)["key.pem"]  # not a second key pair
    assert members(body)["cert.pem"] == members(again)["cert.pem"]
    assert certificates(token, "10.250.65.2")[0] == 200
    assert certificates(token, "10.250.65.2")[0] == 403  # the retry limit stays
