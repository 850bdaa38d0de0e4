"""Every answer under /api/ is JSON (issue 11): an address that routes nowhere is a 404 ``{"detail": …}``, a method
an address does not answer a 405 of the same shape, whoever made the answer; the console's pages keep theirs."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User


def api_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.mark.parametrize("method", ["get", "post", "delete"])
@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/nope", "/api/v1/clusters/abc", "/api/v1/ram/users/a/b/c"])
def test_an_unknown_api_address_answers_a_json_404(owner: User, method: str, path: str) -> None:
    for user in (owner, None):
        response = getattr(api_for(user), method)(path)
        assert response.status_code == 404, (path, response.status_code)
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize(("method", "path"), [("post", "/api/v1/schema"), ("delete", "/api/docs")])
def test_a_method_an_api_address_does_not_answer_is_a_json_405(owner: User, method: str, path: str) -> None:
    response = getattr(api_for(owner), method)(path)
    assert response.status_code == 405 and response["Content-Type"] == "application/json"
    assert response.json() == {"detail": f'Method "{method.upper()}" not allowed.'}
    assert "GET" in response["Allow"]
    drf = api_for(owner).put("/api/v1/clusters")  # DRF's own JSON answers keep their message
    assert drf.status_code == 405 and drf.json() == {"detail": 'Method "PUT" not allowed.'}
    browser = Client()
    browser.force_login(owner)
    page = browser.get("/no-such-page/")  # the console's pages keep theirs
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
