"""The operation logs page and API: filters, pagination, CSV/JSON export, sub-account scope."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from django.test import Client
from django.utils import timezone

from accounts.models import User
from console import audit


def test_filters_and_exports(owner: User) -> None:
    for i in range(60):
        audit.record(
            "cs:CreateApplication" if i % 2 else "cs:DeleteApplication",
            actor=owner,
            target=f"app{i}",
            resource=f"acs:cs:local:1:cluster/1/application/app{i}",
            outcome="failure" if i % 10 == 0 else "success",
            error="boom" if i % 10 == 0 else "",
        )
    client = Client()
    client.force_login(owner)
    page = client.get("/operation-logs/")
    assert page.context["page"].paginator.count == 60 and len(page.context["page"].object_list) == 50
    failures = client.get("/operation-logs/", {"outcome": "failure"})
    assert failures.context["page"].paginator.count == 6
    assert client.get("/operation-logs/", {"q": "boom", "action": "Delete"}).context["page"].paginator.count == 6
    assert client.get("/operation-logs/", {"resource": "application/app7"}).context["page"].paginator.count == 1
    assert client.get("/operation-logs/", {"actor": "admin@acme"}).context["page"].paginator.count == 60
    later = (timezone.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert client.get("/operation-logs/", {"since": later}).context["page"].paginator.count == 0

    exported = client.get("/operation-logs/", {"outcome": "failure", "export": "csv"})
    assert exported["Content-Disposition"].endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert len(rows) == 6 and {r["outcome"] for r in rows} == {"failure"} and rows[0]["hash"]
    as_json = json.loads(client.get("/operation-logs/", {"action": "cs:CreateApplication", "export": "json"}).content)
    assert len(as_json) == 30 and as_json[0]["action"] == "cs:CreateApplication"


def test_api_export_and_filters(owner: User) -> None:
    from rest_framework.test import APIClient

    audit.record("cs:StopApplication", actor=owner, target="web")
    api = APIClient()
    api.force_authenticate(owner)
    body = api.get("/api/v1/operation-logs", {"action": "cs:StopApplication"}).json()
    assert body["count"] == 1 and body["results"][0]["target"] == "web"
    assert api.get("/api/v1/operation-logs", {"export": "json", "action": "Stop"}).json()[0]["target"] == "web"
