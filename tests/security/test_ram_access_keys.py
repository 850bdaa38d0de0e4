"""A new access key's secret is shown once and kept nowhere (not in the session table); the access-key forms
return only to pages of the console (issue 9, low items)."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from accounts import operations as ram
from accounts.models import AccessKey, User
from tests.conftest import PASSWORD


def stored_sessions() -> str:
    return " ".join(str(s.get_decoded()) for s in Session.objects.all())


@pytest.mark.parametrize("page", ["account", "ram-user"])
def test_new_access_key_secret_is_not_kept_in_the_session(owner: User, page: str) -> None:
    ram.create_subaccount(owner, name="ci", password=PASSWORD)
    browser = Client()
    browser.force_login(owner)
    url = "/account/access-keys/" if page == "account" else "/ram/users/ci/access-key/"
    response = browser.post(url)
    body = response.content.decode()
    key = AccessKey.objects.get()
    assert response.status_code == 200 and key.key_id in body  # shown once, in the answer itself
    secret = body.split(f"{key.key_id}:", 1)[1].split("<", 1)[0]
    assert key.check_secret(secret)
    assert secret not in stored_sessions()
    assert "no-store" in response["Cache-Control"]
    assert secret not in browser.get("/account/" if page == "account" else "/ram/users/ci/").content.decode()


def test_access_key_forms_do_not_redirect_to_other_sites(owner: User) -> None:
    browser = Client()
    browser.force_login(owner)
    evil = "https://evil.example/landing"
    created = browser.post("/account/access-keys/", {"back": evil})
    assert evil not in created.content.decode() and created.get("Location", "") != evil
    key = AccessKey.objects.get()
    for change in ("disable", "enable", "delete"):
        response = browser.post(f"/account/access-keys/{key.key_id}/{change}/", {"back": evil})
        assert response.status_code == 302 and response["Location"] == "/account/", change
    for sneaky in ("//evil.example/landing", "javascript:alert(1)", "https:evil.example"):
        ram.create_access_key(owner, owner)
        key = AccessKey.objects.get()
        response = browser.post(f"/account/access-keys/{key.key_id}/delete/", {"back": sneaky})
        assert response["Location"] == "/account/", sneaky
    # A page of the console is still where the form goes back to.
    ram.create_access_key(owner, owner)
    key = AccessKey.objects.get()
    response = browser.post(f"/account/access-keys/{key.key_id}/disable/", {"back": "/ram/users/admin/"})
    assert response["Location"] == "/ram/users/admin/"


@pytest.mark.parametrize("page", ["account", "ram-user"])
def test_reloading_the_answer_that_shows_a_new_secret_makes_no_second_key(owner: User, page: str) -> None:
    """The answer to the POST shows the secret; a reload sends the same form again, which must not silently
    create another key (and another secret to lose)."""
    ram.create_subaccount(owner, name="ci", password=PASSWORD)
    browser = Client()
    browser.force_login(owner)
    form_page = "/account/" if page == "account" else "/ram/users/ci/"
    url = "/account/access-keys/" if page == "account" else "/ram/users/ci/access-key/"
    once = browser.get(form_page).content.decode().split('name="once" value="', 1)[1].split('"', 1)[0]
    first = browser.post(url, {"once": once})
    key = AccessKey.objects.get()
    secret = first.content.decode().split(f"{key.key_id}:", 1)[1].split("<", 1)[0]
    assert key.check_secret(secret)
    again = browser.post(url, {"once": once})  # what a browser's reload of the answer does
    body = again.content.decode()
    assert again.status_code == 200 and AccessKey.objects.count() == 1
    assert 'data-testid="already-created"' in body and key.key_id in body
    assert 'data-testid="new-secret"' not in body
    assert key.key_id in stored_sessions() and secret not in stored_sessions()  # the id is remembered, not the secret
    # A new visit of the page gives a new form, which does create a key.
    fresh = browser.get(form_page).content.decode().split('name="once" value="', 1)[1].split('"', 1)[0]
    browser.post(url, {"once": fresh})
    assert AccessKey.objects.count() == 2
