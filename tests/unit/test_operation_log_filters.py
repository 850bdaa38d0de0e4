"""The operation log's filters, as the page, its CSV download and the API read them (issue 11): an impossible date
is "not a date and time" everywhere (it answered 500), and the API refuses a filter it cannot apply with a 400 that
names it (it answered 200 with the whole log, or nothing)."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from console import audit
from console.log_filters import parse_moment

IMPOSSIBLE = [
    ("since", "2026-02-30 10:00"),  # February 30
    ("since", "2026-03-01 25:00"),  # hour 25
    ("since", "2026-03-01 10:61"),  # minute 61
    ("since", "2026-03-01 10:00+99:00"),  # an offset of 99 hours
    ("until", "2026-12-01 99:00"),
    ("until", "0001-01-01 00:00+14:00"),  # before the first moment once moved to UTC
]


@pytest.fixture
def logged(owner: User) -> User:
    for number in range(3):
        audit.record("cs:CreateApplication", actor=owner, target=f"app{number}")
    return owner


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize(("name", "value"), IMPOSSIBLE)
def test_an_impossible_date_in_a_log_filter_is_named_on_the_page_and_not_applied(
    logged: User, name: str, value: str
) -> None:
    response = signed_in(logged).get("/operation-logs/", {name: value})
    assert response.status_code == 200
    page = response.content.decode()
    label = "From" if name == "since" else "To"
    assert f"“{value}” is not a date and time (for example 2025-01-31 14:00); “{label}” is not applied." in page
    assert response.context["page"].paginator.count == 3  # the filter is left out, nothing else
    assert f'value="{value}"' in page.replace("&#x2B;", "+")  # what was typed stays in its box


@pytest.mark.parametrize(("name", "value"), IMPOSSIBLE)
def test_an_impossible_date_in_a_log_filter_still_downloads_the_csv(logged: User, name: str, value: str) -> None:
    response = signed_in(logged).get("/operation-logs/", {name: value, "export": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert len(list(csv.DictReader(io.StringIO(response.content.decode())))) == 3


@pytest.mark.parametrize(("name", "value"), [*IMPOSSIBLE, ("since", "notadate"), ("until", "yesterday")])
def test_the_api_refuses_a_time_filter_that_is_not_a_time_naming_it(logged: User, name: str, value: str) -> None:
    for extra in ({}, {"export": "csv"}):
        response = api_for(logged).get("/api/v1/operation-logs", {name: value, **extra})
        assert response.status_code == 400, response.content
        assert response.json() == {name: [f"“{value}” is not a date and time (for example 2025-01-31 14:00)."]}


def test_the_api_refuses_an_outcome_source_or_export_format_not_in_its_list(logged: User) -> None:
    api = api_for(logged)
    assert api.get("/api/v1/operation-logs", {"outcome": "bogus"}).json() == {
        "outcome": ["“bogus” is not one of accepted, success, failure, denied."]
    }
    assert api.get("/api/v1/operation-logs", {"export": "xml"}).json() == {"export": ["“xml” is not one of csv, json."]}
    assert set(api.get("/api/v1/operation-logs", {"source": "mars"}).json()) == {"source"}


def test_the_api_names_every_bad_filter_at_once_and_applies_good_ones(logged: User) -> None:
    api = api_for(logged)
    response = api.get("/api/v1/operation-logs", {"since": "notadate", "until": "yesterday", "outcome": "bogus"})
    assert response.status_code == 400 and set(response.json()) == {"since", "until", "outcome"}
    good = api.get("/api/v1/operation-logs", {"since": "2000-01-01 00:00", "until": "2999-12-31T23:59:59Z"})
    assert good.status_code == 200 and good.json()["count"] == 3
    assert api.get("/api/v1/operation-logs", {"since": "2999-01-01"}).json()["count"] == 0  # a date is its midnight
    assert api.get("/api/v1/operation-logs", {"outcome": "accepted"}).json()["count"] == 0


def test_the_page_names_an_outcome_or_export_format_it_cannot_apply(logged: User) -> None:
    page = signed_in(logged).get("/operation-logs/", {"outcome": "bogus", "export": "xml"})
    assert page.status_code == 200 and page.context["page"].paginator.count == 3
    body = page.content.decode()
    assert "“bogus” is not one of accepted, success, failure, denied; “Outcome” is not applied." in body
    assert "“xml” is not one of csv, json; “Export” is not applied." in body


def test_the_schema_describes_the_log_filters_and_their_refusal(owner: User) -> None:
    schema = api_for(owner).get("/api/v1/schema", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/operation-logs"]["get"]
    enums = {p["name"]: p["schema"].get("enum") for p in operation["parameters"]}
    assert set(enums["outcome"]) == {"accepted", "success", "failure", "denied"}
    assert set(enums["export"]) == {"csv", "json"}
    assert set(enums["source"]) == {"ui", "api", "task", "trigger", "system"}
    assert "400" in operation["responses"]


def test_parse_moment_reads_times_and_calls_impossible_ones_not_a_time() -> None:
    assert parse_moment("2026-01-31 14:00Z").isoformat() == "2026-01-31T14:00:00+00:00"
    assert parse_moment("2026-01-31T14:00:00+02:00").isoformat() == "2026-01-31T12:00:00+00:00"
    assert parse_moment("2026-01-31 14:00").tzinfo is not None
    assert parse_moment("2026-01-31") == parse_moment("2026-01-31 00:00")
    for text in ("notadate", "", "2026-13-01", *(value for _name, value in IMPOSSIBLE)):
        assert parse_moment(text) is None, text
