"""Sign-in: name@alias or a chosen tenant, TOTP MFA, throttling, and the log of every attempt."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from console.models import OperationLog
from tests.conftest import PASSWORD


def code_for(device: TOTPDevice, offset: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset
    return f"{totp.token():06d}"


def test_sub_account_chooses_the_tenant_on_the_login_page(member: User) -> None:
    client = Client()
    response = client.post("/login/", {"login": "dev", "tenant": "acme", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/account/").context["user"] == member


def test_unknown_tenant_or_user_is_the_same_answer(member: User) -> None:
    for data in ({"login": "dev@nowhere", "password": PASSWORD}, {"login": "ghost@acme", "password": PASSWORD}):
        response = Client().post("/login/", data)
        assert response.status_code == 200 and "Wrong user name or password." in response.content.decode()


def test_repeated_failures_lock_the_login(member: User) -> None:
    client = Client()
    for _ in range(5):
        client.post("/login/", {"login": "dev@acme", "password": "wrong"})
    locked = client.post("/login/", {"login": "dev@acme", "password": PASSWORD})
    assert locked.status_code in (403, 429)
    assert "Too many failed sign-in attempts" in locked.content.decode()
    assert OperationLog.objects.filter(action="ram:ConsoleSignin", outcome="failure").count() >= 5
    # Another login from the same address is not locked.
    assert Client().post("/login/", {"login": "admin@acme", "password": PASSWORD}).status_code == 302


def test_totp_mfa_enrolment_and_sign_in(owner: User) -> None:
    client = Client()
    client.force_login(owner)
    client.post("/account/mfa/begin/")
    device = TOTPDevice.objects.get(user=owner, confirmed=False)
    assert client.post("/account/mfa/confirm/", {"mfa-code": "000000"}).status_code == 302
    assert not TOTPDevice.objects.filter(user=owner, confirmed=True).exists()
    device.refresh_from_db()
    device.throttle_reset()  # django-otp slows down guessing after a wrong code; the test does not wait
    client.post("/account/mfa/confirm/", {"mfa-code": code_for(device)})
    device.refresh_from_db()
    assert device.confirmed
    assert 'data-testid="mfa-on"' in client.get("/account/").content.decode()

    fresh = Client()
    step = fresh.post("/login/", {"login": "admin@acme", "password": PASSWORD})
    assert step["Location"] == "/login/mfa/"
    assert fresh.get("/account/").status_code == 302  # not signed in until the code is given
    assert fresh.post("/login/mfa/", {"code": "123"}).status_code == 200
    wrong = fresh.post("/login/mfa/", {"code": f"{(int(code_for(device, 90)) + 1) % 1_000_000:06d}"})
    assert "Wrong or expired code." in wrong.content.decode()
    device.refresh_from_db()
    device.throttle_reset()
    signed_in = fresh.post("/login/mfa/", {"code": code_for(device, 30)})
    assert signed_in.status_code == 302
    assert fresh.get("/account/").status_code == 200
    entry = OperationLog.objects.filter(action="ram:ConsoleSignin", outcome="success").latest("seq")
    assert entry.parameters == {"mfa": True}


def test_mfa_condition_in_a_policy_follows_the_session(owner: User, member: User) -> None:
    from accounts import operations as ram
    from clusters.models import Cluster

    Cluster.objects.create(tenant=owner.tenant, name="guarded")
    doc = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "cs:Describe*",
                "Resource": "*",
                "Condition": {"Bool": {"acs:MFAPresent": "true"}},
            }
        ],
    }
    ram.attach_policy(owner, ram.create_policy(owner, name="mfa-only", document=doc), user=member)
    client = Client()
    client.post("/login/", {"login": "dev@acme", "password": PASSWORD})
    assert "guarded" not in client.get("/clusters/").content.decode()


@pytest.mark.parametrize("path", ["/clusters/", "/ram/users/", "/account/", "/operation-logs/"])
def test_pages_need_sign_in(owner: User, path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 302 and response["Location"].startswith("/login/")
