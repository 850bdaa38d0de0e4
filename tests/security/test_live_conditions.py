"""The live websocket decides like HTTP: policy conditions see the socket's address, MFA and transport, and a
condition that cannot be evaluated never lifts a Deny (issue 9, item 10)."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import operations as ram
from accounts.models import User
from apps.models import Application
from clusters.models import Cluster
from tests.conftest import PASSWORD
from tests.security.live_sockets import communicator, drain, memory_layer, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("memory_layer")]
__all__ = ["memory_layer"]

OFFICE_ONLY: dict[str, Any] = {
    "Version": "1",
    "Statement": [
        {"Effect": "Allow", "Action": "cs:*", "Resource": "*"},
        {
            "Effect": "Deny",
            "Action": "cs:*",
            "Resource": "*",
            "Condition": {"NotIpAddress": {"acs:SourceIp": "10.0.0.0/8"}},
        },
    ],
}
MFA_ONLY: dict[str, Any] = {
    "Version": "1",
    "Statement": [
        {"Effect": "Allow", "Action": "cs:*", "Resource": "*", "Condition": {"Bool": {"acs:MFAPresent": "true"}}}
    ],
}


def sub_account(owner: User, name: str, document: dict[str, Any]) -> User:
    user = ram.create_subaccount(owner, name=name, password=PASSWORD)
    ram.attach_policy(owner, ram.create_policy(owner, name=f"{name}-policy", document=document), user=user)
    return User.objects.get(pk=user.pk)


def application(owner: User) -> Application:
    cluster = Cluster.objects.create(tenant=owner.tenant, name="prod")
    return Application.objects.create(tenant=owner.tenant, cluster=cluster, name="payroll", status="running")


def subscribe(cookie: str, app: Application, **where: Any) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        socket = communicator(cookie, **where)
        connected, _code = await socket.connect()
        assert connected
        await socket.send_json_to({"action": "subscribe", "type": "application", "id": app.pk})
        seen = await drain(socket)
        await socket.disconnect()
        return seen

    return async_to_sync(run)()


def test_deny_outside_the_office_network_applies_to_the_websocket_too(owner: User) -> None:
    app = application(owner)
    outside = sub_account(owner, "contractor", OFFICE_ONLY)
    browser = Client(REMOTE_ADDR="127.0.0.1")
    browser.force_login(outside)
    assert browser.get(f"/applications/{app.pk}/").status_code == 404  # HTTP from 127.0.0.1: denied

    seen = subscribe(session_cookie(outside), app, client=("127.0.0.1", 50000))
    assert seen == [{"type": "error", "error": "not found", "subscription": {"type": "application", "id": app.pk}}]

    # The same policy lets the socket in from inside the office network.
    inside = subscribe(session_cookie(outside), app, client=("10.1.2.3", 50000))
    assert inside[0]["type"] == "subscribed"
    assert {"type": "application", "id": app.pk, "status": "running"} in inside


def test_deny_with_an_address_condition_applies_when_the_socket_has_no_address(owner: User) -> None:
    app = application(owner)
    outside = sub_account(owner, "contractor", OFFICE_ONLY)
    seen = subscribe(session_cookie(outside), app, client=None)
    assert seen == [{"type": "error", "error": "not found", "subscription": {"type": "application", "id": app.pk}}]


def test_a_session_that_passed_mfa_counts_as_mfa_on_the_websocket(owner: User) -> None:
    app = application(owner)
    user = sub_account(owner, "careful", MFA_ONLY)
    without_mfa = subscribe(session_cookie(user), app)
    assert without_mfa[0]["type"] == "error"

    device = TOTPDevice.objects.create(user=user, name="Berth", confirmed=True)
    browser = Client()
    browser.force_login(user)
    session = browser.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    cookie = f"{settings.SESSION_COOKIE_NAME}={session.session_key}"
    assert browser.get(f"/applications/{app.pk}/").status_code == 200
    with_mfa = subscribe(cookie, app)
    assert with_mfa[0]["type"] == "subscribed"
