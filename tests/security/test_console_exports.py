"""Attack tests of what the console itself serves: operation-log exports and static files."""

from __future__ import annotations

import csv
import io

import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator
from django.test import Client

from accounts.models import User
from console import context


def test_csv_export_does_not_carry_a_formula_a_caller_wrote(owner: User) -> None:
    """A User-Agent (or any text a caller controls) starting with '=' is exported as text, not as a formula."""
    from console import audit

    context.begin(src="api", ip="127.0.0.1", agent='=HYPERLINK("https://evil.example","x")', actor=owner.pk)
    audit.record("cs:StopApplication", actor=owner, target="+cmd|' /C calc'!A0")
    client = Client()
    client.force_login(owner)
    exported = client.get("/operation-logs/", {"export": "csv"})
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    row = next(r for r in rows if r["action"] == "cs:StopApplication")
    assert row["user_agent"] == '\'=HYPERLINK("https://evil.example","x")'
    assert row["target"].startswith("'+")
    for cell in (value for r in rows for value in r.values()):
        assert not cell.startswith(("=", "+", "-", "@")), cell


@pytest.mark.parametrize(
    "path",
    ["/static/vendor/../../var/secret_key", "/static/../var/secret_key", "/static/vendor/..%2f..%2fvar/secret_key"],
)
def test_static_path_that_leaves_the_static_dirs_is_404_not_500(path: str) -> None:
    async def fetch() -> dict:
        from console.asgi import application

        communicator = HttpCommunicator(application, "GET", path)
        return await communicator.get_response(timeout=5)

    response = async_to_sync(fetch)()
    assert response["status"] == 404
    assert b"secret" not in response["body"].lower() or b"Not found" in response["body"]
