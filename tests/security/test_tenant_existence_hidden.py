"""Attack test: another tenant's objects cannot be detected through the asker's own operation log (review of
issue 11). A 404 of something that exists nowhere is not written as a refusal; another tenant's object answered
the same 404 but was written, so a name could be tried against every other tenant by reading one's own log. Both
are now the same: absence is judged within the caller's tenant."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts import operations as ram
from accounts.models import User
from console.models import OperationLog
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def elsewhere(outsider: User) -> User:
    """Another tenant holding a sub-account "carol" and a group "ops"."""
    ram.create_subaccount(outsider, name="carol", password=PASSWORD)
    ram.create_group(outsider, name="ops")
    return outsider


def entries(user: User) -> int:
    return OperationLog.objects.filter(tenant=user.tenant).count()


@pytest.mark.parametrize(
    ("taken", "free"),
    [
        ("/api/v1/ram/users/carol", "/api/v1/ram/users/nobody-at-all"),
        ("/api/v1/ram/groups/ops", "/api/v1/ram/groups/nothing-at-all"),
        ("/api/v1/ram/users/carol/access-keys", "/api/v1/ram/users/nobody-at-all/access-keys"),
    ],
)
def test_another_tenants_name_and_a_name_that_exists_nowhere_leave_the_same_trace(
    owner: User, elsewhere: User, taken: str, free: str
) -> None:
    api = APIClient()
    api.force_authenticate(owner)
    traces = []
    for url in (taken, free):
        before = entries(owner)
        answer = api.get(url)
        assert (answer.status_code, answer.json()) == (404, {"detail": "Not found."})
        traces.append(entries(owner) - before)
    assert traces[0] == traces[1], traces
    assert not OperationLog.objects.filter(tenant=owner.tenant, target__contains="carol").exists()


def test_the_ram_pages_answer_another_tenants_user_as_one_that_exists_nowhere(owner: User, elsewhere: User) -> None:
    page = Client()
    page.force_login(owner)
    before = entries(owner)
    assert page.get("/ram/users/carol/").status_code == 404
    after_taken = entries(owner)
    assert page.get("/ram/users/nobody-at-all/").status_code == 404
    assert after_taken - before == entries(owner) - after_taken
