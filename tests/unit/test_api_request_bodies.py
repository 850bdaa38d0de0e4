"""Request bodies (issue 10, "No request answers 500"): the API reads JSON objects; a body it cannot read is a 400
or a 415, never a 500; a key it does not know is refused at every level; and the schema says all of it (closed
bodies, the rules each field carries), so what the schema allows is what the API accepts."""

from __future__ import annotations

import pytest
from django.conf import settings
from drf_spectacular.settings import spectacular_settings
from rest_framework.test import APIClient

from accounts.models import AccessKey, User
from apps.models import ConfigSet
from clusters.models import Cluster
from tests.conftest import PASSWORD


def client_for(user: User) -> APIClient:
    key, secret = AccessKey.objects.issue(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.key_id}:{secret}")
    return client


@pytest.fixture(scope="module")
def schema() -> dict:
    return spectacular_settings.DEFAULT_GENERATOR_CLASS().get_schema(request=None, public=True)


def test_a_multipart_body_with_a_json_part_is_415_not_500(owner: User) -> None:
    """What the fuzz run found: ``variables`` as a JSON part of a multipart form made POST /config-sets fail."""
    response = client_for(owner).post(
        "/api/v1/config-sets", {"name": "prod", "variables": '{"x": 0}'}, format="multipart"
    )
    assert response.status_code == 415
    assert not ConfigSet.objects.exists()


@pytest.mark.parametrize("body", [b"{", b"[]", b'"prod"', b"null", b"17", b'{"name": "prod", "variables": []}'])
def test_a_body_that_is_not_the_object_asked_for_is_400(owner: User, body: bytes) -> None:
    response = client_for(owner).generic("POST", "/api/v1/config-sets", body, content_type="application/json")
    assert response.status_code == 400
    assert not ConfigSet.objects.exists()


def test_a_config_set_name_taken_is_400_naming_it_not_500(owner: User) -> None:
    api = client_for(owner)
    assert api.post("/api/v1/config-sets", {"name": "prod"}).status_code == 201
    again = api.post("/api/v1/config-sets", {"name": "prod"})
    assert again.status_code == 400 and "already exists" in again.json()["name"][0]
    api.post("/api/v1/config-sets", {"name": "test"})
    renamed = api.put("/api/v1/config-sets/test", {"name": "prod"})
    assert renamed.status_code == 400 and "name" in renamed.json()


def test_an_unknown_key_is_refused_at_every_level_of_a_body(owner: User) -> None:
    api = client_for(owner)
    top = api.post("/api/v1/config-sets", {"name": "prod", "colour": "red"})
    assert top.status_code == 400 and top.json() == {"colour": ["Unknown field."]}
    nested = api.post("/api/v1/config-sets", {"name": "prod", "variables": {"MODE": {"value": "x", "sealed": True}}})
    assert nested.status_code == 400 and nested.json() == {"variables": {"MODE": {"sealed": ["Unknown field."]}}}
    policy = api.post("/api/v1/clusters", {"name": "c1", "security_policy": {"allow_everything": True}})
    assert policy.status_code == 400 and "allow_everything" in policy.json()["security_policy"]
    assert not ConfigSet.objects.exists() and not Cluster.objects.filter(name="c1").exists()


def test_every_request_body_in_the_schema_is_closed(schema: dict) -> None:
    """Every body the API reads strictly; only the attach script's form is read leniently (its two fields)."""
    components = schema["components"]["schemas"]
    bodies = {
        name: body
        for name, body in components.items()
        if name.endswith("Request")
        and "oneOf" not in body
        and name not in ("AttachCertificatesBodyRequest", "AttachRegisterBodyRequest")
    }
    assert len(bodies) > 20
    assert [name for name, body in bodies.items() if body.get("additionalProperties") is not False] == []


def test_the_schema_carries_the_operations_rules(schema: dict) -> None:
    """The same validators the operations apply: a DNS label, a user name, a zone, the network modes, the scale."""
    components = schema["components"]["schemas"]
    cluster = components["ClusterWriteRequest"]["properties"]
    assert cluster["name"]["pattern"] == "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
    assert cluster["zones"]["items"]["pattern"] == "^[a-z0-9-]{1,63}$"
    assert components["ClusterWriteRequest"]["required"] == ["name"]
    assert "required" not in components["PatchedClusterWriteRequest"]
    user_name = components["UserCreateRequest"]["properties"]["name"]
    assert user_name["pattern"] == "^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$"
    assert components["GrantBodyRequest"]["properties"]["principal"]["pattern"].startswith("^(user|group):")
    assert components["ScaleRequest"]["properties"]["scale"]["maximum"] == 100
    image = components["ImageApplicationCreateRequest"]["properties"]  # rules the operation checks itself, shown
    assert image["name"]["pattern"] == cluster["name"]["pattern"] and image["scale"]["maximum"] == 100
    assert set(components["SimulateBodyRequest"]["properties"]["context"]["properties"]) == {
        "acs:SourceIp",
        "acs:MFAPresent",
        "acs:SecureTransport",
        "acs:CurrentTime",
    }


def test_the_api_takes_json_only_and_the_schema_says_so(schema: dict) -> None:
    assert settings.REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] == ["rest_framework.parsers.JSONParser"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            types = set(operation.get("requestBody", {}).get("content", {}))
            expected = {"application/json", "application/x-www-form-urlencoded"} if "/attach/" in path else set()
            assert types <= {"application/json"} | expected, (method, path, types)


def test_the_attach_script_still_posts_a_form_and_a_list_body_is_no_500(db: None) -> None:
    """The attach script's curl sends ``address=…`` as a form: read (the unknown token is refused, 403)."""
    client = APIClient()
    form = client.post(
        "/api/v1/attach/not-a-token/certificates",
        "address=10.0.0.2",
        content_type=("application/x-www-form-urlencoded"),
    )
    assert form.status_code == 403
    listed = client.generic("POST", "/api/v1/attach/not-a-token/register", b"[1, 2]", content_type="application/json")
    assert listed.status_code == 403


def test_a_sub_account_changes_its_own_password_with_the_current_one(owner: User, member: User) -> None:
    """``current`` is part of the body (the strict reading refused it before, so nobody could)."""
    from accounts import operations as ram

    ram.attach_policy(owner, ram.find_policy(owner, "AliyunRAMSelfServiceAccess"), user=member)
    api = client_for(member)
    wrong = api.patch(f"/api/v1/ram/users/{member.name}", {"password": "Another-Horse-7", "current": "nope"})
    assert wrong.status_code == 400 and "current" in wrong.json()
    right = api.patch(f"/api/v1/ram/users/{member.name}", {"password": "Another-Horse-7", "current": PASSWORD})
    assert right.status_code == 200, right.content
    member.refresh_from_db()
    assert member.check_password("Another-Horse-7")


@pytest.mark.parametrize(
    ("url", "body", "bad"),
    [
        (
            "/api/v1/clusters/{cluster}/applications",
            {"name": "Not A Name!", "image": "local/busybox:1", "scale": "many", "colour": "red"},
            {"name", "scale", "colour"},
        ),
        (
            "/api/v1/clusters",
            {"name": "Not A Name!", "network_mode": "carrier-pigeon", "colour": "red"},
            {"name", "network_mode", "colour"},
        ),
        (
            "/api/v1/ram/users",
            {"name": "not a name!", "password": PASSWORD, "display_name": "x" * 101, "colour": "red"},
            {"name", "display_name", "colour"},
        ),
    ],
)
def test_an_unknown_field_does_not_hide_the_other_bad_fields(owner: User, url: str, body: dict, bad: set) -> None:
    """One message per bad field (the README's promise): an unknown key is reported with the others, not alone."""
    cluster = Cluster.objects.create(tenant=owner.tenant, name="c1")
    response = client_for(owner).post(url.format(cluster=cluster.pk), body)
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == bad, errors
    assert errors["colour"] == ["Unknown field."]
    assert all(len(messages) == 1 for messages in errors.values()), errors
