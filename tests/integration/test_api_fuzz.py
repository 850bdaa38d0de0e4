"""Property-based requests over the API's own OpenAPI schema, against the live ASGI server: no request answers 500,
and what the schema says is valid the API accepts (and what it says is invalid, the API refuses).

Bounded: a few examples an operation (``BERTH_FUZZ_EXAMPLES``, default 25), no shrinking. Left out are the
operations that would make Berth connect to addresses taken from the generated data (node registration, the
attach script's steps) or start containers from generated images (deploys, updates): they are covered by their
own tests with real nodes.

A few rules are not JSON Schema's to state: a name no other object has, a user or cluster that exists, a policy
document that parses, a Compose text that loads, the tenant's password policy, a config set's variable names.
The operations listed in ``CHECKED_BEYOND_THE_SCHEMA`` document that 400 in the schema; for them (and only them)
``positive_data_acceptance`` takes a 400 for data the schema allows, and only when the answer names nothing but
the fields those rules are about.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import CheckContext, not_a_server_error, positive_data_acceptance
from schemathesis.config import PositiveDataAcceptanceConfig, SchemathesisConfig
from schemathesis.core.transport import Response

from accounts.models import AccessKey, User
from clusters.models import Cluster
from tests import harness

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

EXAMPLES = int(os.environ.get("BERTH_FUZZ_EXAMPLES", "25"))
LEFT_OUT = (
    ("POST", "/api/v1/clusters/{cluster_id}/nodes"),  # connects to the generated endpoint
    ("POST", "/api/v1/clusters/{cluster_id}/applications"),  # starts containers from generated images
    ("PATCH", "/api/v1/clusters/{cluster_id}/applications/{name}"),
)

# Operation → the fields a 400 to schema-valid data may name (their rule is one JSON Schema cannot state).
CHECKED_BEYOND_THE_SCHEMA: dict[str, tuple[str, ...]] = {
    "POST /api/v1/clusters": ("name", "network_pool"),  # taken; a private range
    "PATCH /api/v1/clusters/{cluster_id}": ("name", "network_pool", "network_mode"),  # taken; pool and mode fixed
    "POST /api/v1/clusters/{cluster_id}/networks": ("name",),  # taken, Docker's own; the cluster in bridge mode
    "POST /api/v1/config-sets": ("name", "variables"),  # taken; variable names (OpenAPI 3.0 cannot pattern keys)
    "PUT /api/v1/config-sets/{name}": ("name", "variables"),
    "POST /api/v1/ram/grants": ("cluster", "principal"),  # exists; the primary account
    "POST /api/v1/ram/groups": ("name", "members"),  # taken; members exist
    "PATCH /api/v1/ram/groups/{name}": ("name", "members"),
    "POST /api/v1/ram/policies": ("name", "document"),  # taken; the document parses
    "PUT /api/v1/ram/policies/{name}": ("name", "document"),  # a system policy; the document parses
    "POST /api/v1/ram/policies/{name}/versions": ("name", "document"),
    "POST /api/v1/ram/simulate": ("user",),  # exists
    "POST /api/v1/ram/users": ("name", "password"),  # taken; the tenant's password policy
    "PATCH /api/v1/ram/users/{name}": ("password", "current", "active"),  # policy; own password; primary account
    "POST /api/v1/registry-credentials": ("registry",),  # one credential a registry
    "POST /api/v1/certificates": ("name", "certificate", "key"),  # taken; the PEM parses, the key fits, not expired
    "POST /api/v1/templates": ("name", "compose"),  # taken; the Compose text loads
    "PUT /api/v1/templates/{name}": ("name", "compose"),
    "POST /api/v1/templates/validate": ("valid", "errors"),  # the answer to a text that does not load
}


def fuzz_config() -> SchemathesisConfig:
    """Schemathesis' defaults, plus: the operations above may answer 400 to data their schema allows; and no NUL
    character in the data: every request that carries one is refused at the door, before any operation (400, or 404
    in the path: console.middleware.NulCharacterMiddleware, tests/integration/test_nul_characters.py)."""
    expected = [*PositiveDataAcceptanceConfig().expected_statuses, "400"]
    return SchemathesisConfig.from_dict(
        {
            "generation": {"allow-x00": False},
            "operations": [
                {"include-name": name, "checks": {"positive_data_acceptance": {"expected-statuses": expected}}}
                for name in CHECKED_BEYOND_THE_SCHEMA
            ],
        }
    )


def refusals_name_only_rules_the_schema_cannot_state(
    ctx: CheckContext, response: Response, case: schemathesis.Case
) -> None:
    """A 400 that ``CHECKED_BEYOND_THE_SCHEMA`` lets through for schema-valid data names only the fields it lists."""
    allowed = CHECKED_BEYOND_THE_SCHEMA.get(f"{case.method.upper()} {case.path}")
    if allowed is None or response.status_code != 400 or case.meta is None or not case.meta.generation.mode.is_positive:
        return
    try:
        body = json.loads(response.content or b"")
    except ValueError:
        body = None
    named = set(body) if isinstance(body, dict) else {"(not an object of fields)"}
    if not named <= set(allowed):
        raise AssertionError(
            f"400 to data the schema allows names {sorted(named - set(allowed))}, whose rules the schema should "
            f"state: {response.content[:500]!r}"
        )


@pytest.fixture
def fuzz_target(stack: harness.Stack, owner: User) -> Iterator[tuple[str, dict[str, str]]]:
    """The live server and an access key of a tenant with one empty cluster (ids in the data may hit it)."""
    Cluster.objects.create(tenant=owner.tenant, name="fuzzed")
    key, secret = AccessKey.objects.issue(owner)
    yield stack.url, {"Authorization": f"Bearer {key.key_id}:{secret}"}


def api_schema() -> schemathesis.BaseSchema:
    """The schema the console serves at /api/v1/schema (the same generator), less what is left out."""
    document = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))
    loaded = schemathesis.openapi.from_dict(document, config=fuzz_config()).exclude(path_regex=r"^/api/v1/attach/")
    for method, path in LEFT_OUT:
        loaded = loaded.exclude(method=method, path=path)
    return loaded


schema = api_schema()


def test_each_operation_that_refuses_schema_valid_data_documents_why() -> None:
    """The 400s the fuzz run lets through are in the schema, with the operation's own description of the rule."""
    paths = schema.raw_schema["paths"]
    for name in CHECKED_BEYOND_THE_SCHEMA:
        method, path = name.split(" ", 1)
        refusal = paths[path][method.lower()]["responses"].get("400", {})
        assert refusal.get("description", "").strip(), name
        assert refusal["description"] != "The body is not valid: each field with what is wrong.", name


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_request_answers_500_and_the_schema_says_what_the_api_accepts(
    case: schemathesis.Case, fuzz_target: tuple[str, dict[str, str]]
) -> None:
    url, headers = fuzz_target
    case.call_and_validate(
        base_url=url,
        headers=headers,
        timeout=30,
        checks=[not_a_server_error, positive_data_acceptance, refusals_name_only_rules_the_schema_cannot_state],
    )
