"""Policy documents: parse errors with JSON paths, wildcard matching, conditions, evaluation and system policies."""

from __future__ import annotations

import ipaddress
import json
import pickle
import time
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.policy import (
    MAX_DOCUMENT_CHARS,
    SYSTEM_POLICIES,
    Attached,
    Condition,
    Decision,
    Document,
    PolicyError,
    Statement,
    action_matches,
    evaluate,
    match,
    parse,
    resource_matches,
    statement_applies,
    validate,
)

CLUSTER = "acs:cs:*:*:cluster/c1"
OTHER_CLUSTER = "acs:cs:*:*:cluster/c2"


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    """A policy document with the given statements."""
    return {"Version": "1", "Statement": list(statements)}


def statement(effect: str = "Allow", action: Any = "cs:*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    """A statement object; ``extra`` adds keys such as Condition."""
    return {"Effect": effect, "Action": action, "Resource": resource, **extra}


def with_condition(condition: Any) -> dict[str, Any]:
    """A one-statement document whose statement has the given Condition."""
    return document(statement(Condition=condition))


def attached(name: str, *statements: dict[str, Any], version: str = "v1", via: str = "user") -> Attached:
    """A parsed policy attached to a principal."""
    return Attached(name=name, version=version, document=parse(document(*statements)), via=via)


def sized(chars: int) -> dict[str, Any]:
    """A valid-looking document whose compact JSON is exactly ``chars`` characters long."""
    resources = ["r"]
    doc = document(statement(resource=resources))
    while len(json.dumps(doc, separators=(",", ":"))) + 403 < chars:
        resources.append("x" * 400)
    length = len(json.dumps(doc, separators=(",", ":")))
    resources[0] += "y" * (chars - length)
    assert len(json.dumps(doc, separators=(",", ":"))) == chars
    return doc


# --- parse errors --------------------------------------------------------------------------------------------------

STATEMENT_0 = "$.Statement[0]"
CONDITION_0 = "$.Statement[0].Condition"


@pytest.mark.parametrize(
    ("path", "doc"),
    [
        ("$", ["not", "an", "object"]),
        ("$", sized(MAX_DOCUMENT_CHARS + 1)),
        ("$.Version", {"Statement": [statement()]}),
        ("$.Version", {"Version": "2", "Statement": [statement()]}),
        ("$.Version", {"Version": 1, "Statement": [statement()]}),
        ("$.Id", {"Version": "1", "Id": "x", "Statement": [statement()]}),
        ("$.version", {"version": "1", "Statement": [statement()]}),
        ("$.Statement", {"Version": "1"}),
        ("$.Statement", document()),
        ("$.Statement", {"Version": "1", "Statement": statement()}),
        ("$.Statement", document(*[statement()] * 101)),
        (STATEMENT_0, document("Allow everything")),
        ("$.Statement[1].Effect", document(statement(), statement(effect="Permit"))),
        ("$.Statement[0].Effect", document(statement(effect=True))),
        ("$.Statement[0].Effect", document({"Action": "cs:*", "Resource": "*"})),
        ("$.Statement[0].NotAction", document(statement(NotAction="cs:*"))),
        ("$.Statement[0].effect", document({"effect": "Allow", "Action": "cs:*", "Resource": "*"})),
        ("$.Statement[0].Action", document(statement(action=7))),
        ("$.Statement[0].Action", document(statement(action={"cs": "*"}))),
        ("$.Statement[0].Action", document(statement(action=[]))),
        ("$.Statement[0].Action", document(statement(action=""))),
        ("$.Statement[0].Action", document(statement(action="DescribeClusters"))),
        ("$.Statement[0].Action", document(statement(action=[f"cs:A{i}" for i in range(101)]))),
        ("$.Statement[0].Action[1]", document(statement(action=["cs:Get*", 3]))),
        ("$.Statement[0].Action[1]", document(statement(action=["cs:Get*", ""]))),
        ("$.Statement[0].Action[0]", document(statement(action=["cs:" + "A" * 510]))),
        ("$.Statement[0].Action[0]", document(statement(action=["cs:Describe Clusters"]))),
        ("$.Statement[0].Resource", document({"Effect": "Allow", "Action": "cs:*"})),
        ("$.Statement[0].Resource", document(statement(resource=""))),
        ("$.Statement[0].Resource[2]", document(statement(resource=["a", "b", None]))),
        (CONDITION_0, with_condition(["IpAddress"])),
        (CONDITION_0, with_condition(None)),
        (f"{CONDITION_0}.IpAddres", with_condition({"IpAddres": {"acs:SourceIp": "10.0.0.0/8"}})),
        (f"{CONDITION_0}.Bool", with_condition({"Bool": {}})),
        (f"{CONDITION_0}.Bool", with_condition({"Bool": "true"})),
        (
            f'{CONDITION_0}.IpAddress["acs:SourceIp"][1]',
            with_condition({"IpAddress": {"acs:SourceIp": ["1.2.3.4", "10.0.0.0/33"]}}),
        ),
        (f'{CONDITION_0}.IpAddress["acs:SourceIp"]', with_condition({"IpAddress": {"acs:SourceIp": "localhost"}})),
        (f'{CONDITION_0}.NotIpAddress["acs:SourceIp"][0]', with_condition({"NotIpAddress": {"acs:SourceIp": [10]}})),
        (
            f'{CONDITION_0}.DateLessThan["acs:CurrentTime"]',
            with_condition({"DateLessThan": {"acs:CurrentTime": "tomorrow"}}),
        ),
        (
            f'{CONDITION_0}.DateGreaterThan["acs:CurrentTime"][0]',
            with_condition({"DateGreaterThan": {"acs:CurrentTime": ["2027-13-01T00:00:00Z"]}}),
        ),
        (f'{CONDITION_0}.Bool["acs:MFAPresent"]', with_condition({"Bool": {"acs:MFAPresent": "yes"}})),
        (f'{CONDITION_0}.Bool["acs:SecureTransport"][0]', with_condition({"Bool": {"acs:SecureTransport": [1]}})),
        (f'{CONDITION_0}.StringEquals["acs:SourceIp"]', with_condition({"StringEquals": {"acs:SourceIp": "1.2.3.4"}})),
        (f'{CONDITION_0}.Bool["acs:CurrentTime"]', with_condition({"Bool": {"acs:CurrentTime": "true"}})),
        (f'{CONDITION_0}.IpAddress["acs:MFAPresent"]', with_condition({"IpAddress": {"acs:MFAPresent": "1.2.3.4"}})),
        (f'{CONDITION_0}.IpAddress["cs:NodeIp"]', with_condition({"IpAddress": {"cs:NodeIp": "1.2.3.4"}})),
        (f'{CONDITION_0}.StringEquals["cs:Tag"]', with_condition({"StringEquals": {"cs:Tag": []}})),
        (f'{CONDITION_0}.StringEquals["cs:Tag"][0]', with_condition({"StringEquals": {"cs:Tag": [5]}})),
        (f"{CONDITION_0}.StringLike.UserAgent", with_condition({"StringLike": {"UserAgent": None}})),
        (f'{CONDITION_0}.StringLike[""]', with_condition({"StringLike": {"": "x"}})),
    ],
)
def test_parse_errors_name_the_json_path(path: str, doc: Any) -> None:
    with pytest.raises(PolicyError) as caught:
        parse(doc)
    assert caught.value.path == path
    assert str(caught.value) == f"{path}: {caught.value.message}"
    assert caught.value.message


def test_error_messages_say_what_is_expected() -> None:
    with pytest.raises(PolicyError) as caught:
        parse(document(statement(effect="Permit")))
    assert str(caught.value) == '$.Statement[0].Effect: must be "Allow" or "Deny"; got "Permit"'
    with pytest.raises(PolicyError) as caught:
        parse({"version": "1", "Statement": [statement()]})
    assert '"Version"' in caught.value.message


def test_policy_error_is_a_value_error_and_pickles() -> None:
    err = PolicyError("$.Version", 'must be the string "1"')
    assert isinstance(err, ValueError)
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.path, copy.message, str(copy)) == (err.path, err.message, str(err))


def test_size_limit_is_inclusive() -> None:
    validate(sized(MAX_DOCUMENT_CHARS))
    with pytest.raises(PolicyError, match=str(MAX_DOCUMENT_CHARS)):
        validate(sized(MAX_DOCUMENT_CHARS + 1))


def test_circular_document_is_refused() -> None:
    doc: dict[str, Any] = document(statement())
    doc["Statement"].append(doc)
    with pytest.raises(PolicyError) as caught:
        parse(doc)
    assert caught.value.path == "$"


# --- parsing valid documents ---------------------------------------------------------------------------------------


def test_parse_normalises_a_document() -> None:
    parsed = parse(
        document(
            statement(effect="deny", action="cs:DeleteCluster", resource=CLUSTER),
            statement(
                effect="ALLOW",
                action=["cs:Get*", "cs:List*"],
                resource=("*",),
                Condition={
                    "ipaddress": {"acs:SourceIP": ["10.0.0.0/8", "1.2.3.4", "2001:db8::/32", "10.1.2.3/8"]},
                    "BOOL": {"acs:MFAPresent": "TRUE", "acs:SecureTransport": False},
                    "DateLessThan": {"acs:CurrentTime": ["2027-01-01T00:00:00Z", "2027-01-01T08:00:00+08:00"]},
                    "DateGreaterThan": {"acs:CurrentTime": "2026-01-01T00:00:00"},
                    "stringlike": {"acs:UserAgent": "curl/*"},
                },
            ),
        )
    )
    assert isinstance(parsed, Document)
    deny, allow = parsed.statements
    assert deny == Statement("Deny", ("cs:DeleteCluster",), (CLUSTER,), ())
    assert allow.effect == "Allow"
    assert allow.actions == ("cs:Get*", "cs:List*")
    assert allow.resources == ("*",)
    new_year = datetime(2027, 1, 1, tzinfo=UTC)
    assert allow.conditions == (
        Condition(
            "IpAddress",
            "acs:sourceip",
            (
                ipaddress.ip_network("10.0.0.0/8"),
                ipaddress.ip_network("1.2.3.4/32"),
                ipaddress.ip_network("2001:db8::/32"),
                ipaddress.ip_network("10.0.0.0/8"),
            ),
        ),
        Condition("Bool", "acs:mfapresent", (True,)),
        Condition("Bool", "acs:securetransport", (False,)),
        Condition("DateLessThan", "acs:currenttime", (new_year, new_year)),
        Condition("DateGreaterThan", "acs:currenttime", (datetime(2026, 1, 1, tzinfo=UTC),)),
        Condition("StringLike", "acs:useragent", ("curl/*",)),
    )
    assert all(value.tzinfo is not None for condition in allow.conditions[3:5] for value in condition.values)


def test_empty_condition_object_is_allowed_and_validate_returns_none() -> None:
    assert parse(with_condition({})).statements[0].conditions == ()
    assert validate(document(statement())) is None


# --- wildcard matching ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "case_sensitive", "expected"),
    [
        ("*", "", True, True),
        ("*", "anything:at/all", True, True),
        ("cs:*", "cs:DescribeClusters", True, True),
        ("cs:*", "cs:", True, True),
        ("cs:*", "ecs:DescribeInstances", True, False),
        ("*:Get*", "cs:GetCluster", True, True),
        ("acs:cs:*:*:cluster/*", "acs:cs:cn-hangzhou:123:cluster/c1/nodes", True, True),
        ("acs:cs:*:*:cluster/*", "acs:cs:*:*:app/a1", True, False),
        ("cs:Get?", "cs:GetX", True, True),
        ("cs:Get?", "cs:Get", True, False),
        ("cs:Get?", "cs:GetXY", True, False),
        ("?", "/", True, True),
        ("a*b*c", "abXbc", True, True),
        ("a*b*c", "acb", True, False),
        ("*a*a*", "aa", True, True),
        ("*a*a*", "a", True, False),
        ("a**b", "ab", True, True),
        ("*\n", "line\n", True, True),
        ("a*", "a\nb", True, True),
        ("cs:describeclusters", "cs:DescribeClusters", False, True),
        ("CS:GET*", "cs:getcluster", False, True),
        ("cs:describeclusters", "cs:DescribeClusters", True, False),
        ("cluster/C1", "cluster/c1", True, False),
        ("cluster/.", "cluster/x", True, False),
        ("cluster/.", "cluster/.", True, True),
        ("a+", "aa", True, False),
        ("a+", "a+", True, True),
        ("(a)", "a", True, False),
        ("(a)", "(a)", True, True),
        ("[ab]", "a", True, False),
        ("[ab]", "[ab]", True, True),
        ("a|b", "a", True, False),
        ("^a$", "^a$", True, True),
        ("a\\d", "a\\d", True, True),
        ("a\\d", "a1", True, False),
        ("a{2}", "aa", True, False),
        ("${acs:CurrentUser}", "${acs:CurrentUser}", True, True),
    ],
)
def test_match_table(pattern: str, value: str, case_sensitive: bool, expected: bool) -> None:
    assert match(pattern, value, case_sensitive=case_sensitive) is expected


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("cs:DescribeClusters", "cs:describeclusters", True),
        ("CS:Describe*", "cs:DescribeClusters", True),
        ("cs:Get*", "CS:GETAPP", True),
        ("cs:Get*", "cs:DescribeClusters", False),
        ("*", "ram:CreateUser", True),
    ],
)
def test_actions_match_case_insensitively(pattern: str, action: str, expected: bool) -> None:
    assert action_matches(pattern, action) is expected


@pytest.mark.parametrize(
    ("pattern", "resource", "expected"),
    [
        ("acs:cs:*:*:cluster/c1", "acs:cs:*:*:cluster/c1", True),
        ("acs:cs:*:*:cluster/c1", "acs:cs:*:*:cluster/C1", False),
        ("acs:cs:*:*:Cluster/*", "acs:cs:*:*:cluster/c1", False),
        ("acs:cs:*:*:cluster/c?", "acs:cs:*:*:cluster/c2", True),
    ],
)
def test_resources_match_case_sensitively(pattern: str, resource: str, expected: bool) -> None:
    assert resource_matches(pattern, resource) is expected


def test_hostile_patterns_match_quickly() -> None:
    started = time.monotonic()
    assert not match("*a" * 30 + "*b", "a" * 500, case_sensitive=True)
    assert not match("?*" * 40 + "b", "a" * 500, case_sensitive=False)
    assert time.monotonic() - started < 1


# --- conditions ----------------------------------------------------------------------------------------------------

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PAST = "2026-01-01T00:00:00Z"
FUTURE = "2027-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("condition", "context", "expected"),
    [
        # IpAddress
        ({"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}}, {"acs:SourceIp": "10.1.2.3"}, True),
        ({"IpAddress": {"acs:SourceIp": ["192.168.0.0/16", "1.2.3.4"]}}, {"acs:SourceIp": "1.2.3.4"}, True),
        ({"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}}, {"acs:SourceIp": "11.0.0.1"}, False),
        ({"IpAddress": {"acs:SourceIp": "2001:db8::/32"}}, {"acs:SourceIp": "2001:db8::1"}, True),
        ({"IpAddress": {"acs:SourceIp": "2001:db8::/32"}}, {"acs:SourceIp": "10.0.0.1"}, False),
        ({"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}}, {"acs:SourceIp": "::ffff:10.0.0.1"}, True),
        ({"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}}, {"acs:SourceIp": ipaddress.ip_address("10.0.0.1")}, True),
        ({"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}}, {"acs:SourceIp": "not an ip"}, False),
        ({"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}}, {}, False),
        # NotIpAddress
        ({"NotIpAddress": {"acs:SourceIp": ["10.0.0.0/8", "1.2.3.4"]}}, {"acs:SourceIp": "8.8.8.8"}, True),
        ({"NotIpAddress": {"acs:SourceIp": ["10.0.0.0/8", "1.2.3.4"]}}, {"acs:SourceIp": "1.2.3.4"}, False),
        ({"NotIpAddress": {"acs:SourceIp": "10.0.0.0/8"}}, {"acs:SourceIp": "garbage"}, False),
        ({"NotIpAddress": {"acs:SourceIp": "10.0.0.0/8"}}, {}, False),
        # Bool
        ({"Bool": {"acs:MFAPresent": "true"}}, {"acs:MFAPresent": True}, True),
        ({"Bool": {"acs:MFAPresent": True}}, {"acs:MFAPresent": "true"}, True),
        ({"Bool": {"acs:SecureTransport": "false"}}, {"acs:SecureTransport": False}, True),
        ({"Bool": {"acs:MFAPresent": "true"}}, {"acs:MFAPresent": False}, False),
        ({"Bool": {"acs:MFAPresent": "true"}}, {"acs:MFAPresent": "maybe"}, False),
        ({"Bool": {"acs:MFAPresent": "true"}}, {}, False),
        # DateGreaterThan
        ({"DateGreaterThan": {"acs:CurrentTime": PAST}}, {"acs:CurrentTime": NOW}, True),
        ({"DateGreaterThan": {"acs:CurrentTime": FUTURE}}, {"acs:CurrentTime": NOW}, False),
        ({"DateGreaterThan": {"acs:CurrentTime": [FUTURE, PAST]}}, {"acs:CurrentTime": NOW}, True),
        ({"DateGreaterThan": {"acs:CurrentTime": "2026-06-01T12:00:00Z"}}, {"acs:CurrentTime": NOW}, False),
        ({"DateGreaterThan": {"acs:CurrentTime": PAST}}, {}, False),
        # DateLessThan
        ({"DateLessThan": {"acs:CurrentTime": FUTURE}}, {"acs:CurrentTime": NOW}, True),
        ({"DateLessThan": {"acs:CurrentTime": FUTURE}}, {"acs:CurrentTime": "2026-06-01T12:00:00Z"}, True),
        ({"DateLessThan": {"acs:CurrentTime": FUTURE}}, {"acs:CurrentTime": datetime(2026, 6, 1)}, True),
        ({"DateLessThan": {"acs:CurrentTime": "2026-06-01T13:00:00+02:00"}}, {"acs:CurrentTime": NOW}, False),
        ({"DateLessThan": {"acs:CurrentTime": PAST}}, {"acs:CurrentTime": NOW}, False),
        ({"DateLessThan": {"acs:CurrentTime": FUTURE}}, {"acs:CurrentTime": "soon"}, False),
        ({"DateLessThan": {"acs:CurrentTime": FUTURE}}, {}, False),
        # StringEquals
        ({"StringEquals": {"cs:Tag": ["dev", "test"]}}, {"cs:Tag": "test"}, True),
        ({"StringEquals": {"cs:Tag": "dev"}}, {"cs:Tag": "Dev"}, False),
        ({"StringEquals": {"cs:Tag": "dev"}}, {"cs:Tag": 1}, False),
        ({"StringEquals": {"cs:Tag": "dev"}}, {}, False),
        # StringNotEquals
        ({"StringNotEquals": {"cs:Tag": ["prod", "staging"]}}, {"cs:Tag": "dev"}, True),
        ({"StringNotEquals": {"cs:Tag": ["prod", "staging"]}}, {"cs:Tag": "prod"}, False),
        ({"StringNotEquals": {"cs:Tag": "prod"}}, {}, False),
        # StringLike
        ({"StringLike": {"acs:UserAgent": ["curl/*", "Berth/?.?"]}}, {"acs:UserAgent": "Berth/1.2"}, True),
        ({"StringLike": {"acs:UserAgent": "curl/*"}}, {"acs:UserAgent": "Mozilla/5.0"}, False),
        ({"StringLike": {"acs:UserAgent": "curl/*"}}, {"acs:UserAgent": "CURL/8"}, False),
        ({"StringLike": {"acs:UserAgent": "curl/*"}}, {}, False),
        # context keys and condition keys in any letter case
        ({"IpAddress": {"ACS:SOURCEIP": "10.0.0.0/8"}}, {"acs:sourceip": "10.0.0.1"}, True),
        ({"StringEquals": {"cs:tag": "dev"}}, {"CS:TAG": "dev"}, True),
        # every operator and key must hold
        (
            {"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}, "Bool": {"acs:MFAPresent": "true"}},
            {"acs:SourceIp": "10.0.0.1", "acs:MFAPresent": True},
            True,
        ),
        (
            {"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}, "Bool": {"acs:MFAPresent": "true"}},
            {"acs:SourceIp": "10.0.0.1", "acs:MFAPresent": False},
            False,
        ),
        ({"StringEquals": {"cs:Tag": "dev", "cs:Team": "a"}}, {"cs:Tag": "dev", "cs:Team": "b"}, False),
        ({"StringEquals": {"cs:Tag": "dev", "cs:Team": "a"}}, {"cs:Tag": "dev", "cs:Team": "a"}, True),
    ],
)
def test_condition_operators(condition: dict[str, Any], context: dict[str, Any], expected: bool) -> None:
    parsed = parse(with_condition(condition)).statements[0]
    assert statement_applies(parsed, "cs:DescribeClusters", CLUSTER, context) is expected
    policy = Attached("P", "v1", parse(with_condition(condition)))
    assert evaluate([policy], "cs:DescribeClusters", CLUSTER, context).allowed is expected


def test_statement_applies_needs_action_and_resource() -> None:
    parsed = parse(document(statement(action="cs:Get*", resource=CLUSTER))).statements[0]
    assert statement_applies(parsed, "cs:GetCluster", CLUSTER, {})
    assert not statement_applies(parsed, "cs:DeleteCluster", CLUSTER, {})
    assert not statement_applies(parsed, "cs:GetCluster", OTHER_CLUSTER, {})


def test_time_zones_compare_as_instants() -> None:
    plus_eight = timezone(timedelta(hours=8))
    condition = {"DateLessThan": {"acs:CurrentTime": "2027-01-01T00:00:00Z"}}
    parsed = parse(with_condition(condition)).statements[0]
    assert statement_applies(parsed, "cs:X", "r", {"acs:CurrentTime": datetime(2027, 1, 1, 7, 59, tzinfo=plus_eight)})
    assert not statement_applies(
        parsed, "cs:X", "r", {"acs:CurrentTime": datetime(2027, 1, 1, 8, 0, tzinfo=plus_eight)}
    )


# --- evaluation ----------------------------------------------------------------------------------------------------


def test_implicit_deny_without_policies_or_matches() -> None:
    assert evaluate([], "cs:DescribeClusters", CLUSTER) == Decision(allowed=False, effect="ImplicitDeny")
    policy = attached("Readers", statement(action="cs:Describe*"))
    decision = evaluate([policy], "cs:DeleteCluster", CLUSTER)
    assert not decision.allowed
    assert decision.as_dict() == {
        "effect": "ImplicitDeny",
        "policy": None,
        "version": None,
        "statement": None,
        "via": None,
    }


def test_allow_names_the_first_allowing_statement() -> None:
    first = attached("First", statement(action="ram:*"), statement(action="cs:Get*"), version="v3")
    second = attached("Second", statement(action="cs:*"), via="group:dev")
    decision = evaluate([first, second], "cs:GetCluster", CLUSTER)
    assert decision == Decision(True, "Allow", policy="First", version="v3", statement=1, via="user")
    decision = evaluate([first, second], "cs:DeleteCluster", CLUSTER)
    assert decision == Decision(True, "Allow", policy="Second", version="v1", statement=0, via="group:dev")


def test_explicit_deny_in_another_policy_beats_allow() -> None:
    allow = attached("Full", statement(action="cs:*"))
    deny = attached("NoDelete", statement(), statement(effect="Deny", action="cs:Delete*", resource=CLUSTER))
    decision = evaluate([allow, deny], "cs:DeleteCluster", CLUSTER)
    assert decision == Decision(False, "Deny", policy="NoDelete", version="v1", statement=1, via="user")
    assert evaluate([allow, deny], "cs:DeleteCluster", OTHER_CLUSTER).allowed


def test_explicit_deny_via_a_group_beats_the_users_own_allow() -> None:
    own = attached("AdministratorAccess", statement(action="*"))
    group = attached("Guard", statement(effect="Deny", action="cs:DeleteCluster"), version="v2", via="group:ops")
    decision = evaluate([own, group], "cs:deletecluster", CLUSTER)
    assert not decision.allowed
    assert decision.as_dict() == {
        "effect": "Deny",
        "policy": "Guard",
        "version": "v2",
        "statement": 0,
        "via": "group:ops",
    }
    json.dumps(decision.as_dict())


def test_deny_with_unmet_condition_does_not_deny() -> None:
    allow = attached("Full", statement(action="cs:*"))
    deny = attached("OfficeOnly", statement(effect="Deny", Condition={"NotIpAddress": {"acs:SourceIp": "10.0.0.0/8"}}))
    assert evaluate([allow, deny], "cs:GetCluster", CLUSTER, {"acs:SourceIp": "10.0.0.1"}).allowed
    assert not evaluate([allow, deny], "cs:GetCluster", CLUSTER, {"acs:SourceIp": "8.8.8.8"}).allowed


@pytest.mark.parametrize("context", [{}, {"acs:SourceIp": ""}, {"acs:SourceIp": "garbage"}, {"acs:SourceIp": None}])
def test_deny_whose_condition_cannot_be_evaluated_applies(context: dict[str, Any]) -> None:
    # What the request does not say never lifts a Deny (fail closed), negative operators included.
    allow = attached("Full", statement(action="cs:*"))
    deny = attached("OfficeOnly", statement(effect="Deny", Condition={"NotIpAddress": {"acs:SourceIp": "10.0.0.0/8"}}))
    decision = evaluate([allow, deny], "cs:GetCluster", CLUSTER, context)
    assert not decision.allowed and decision.effect == "Deny"
    positive = attached("BlockList", statement(effect="Deny", Condition={"IpAddress": {"acs:SourceIp": "1.2.3.0/24"}}))
    assert not evaluate([allow, positive], "cs:GetCluster", CLUSTER, context).allowed
    # An Allow that needs the unknown key still grants nothing.
    office = attached("Office", statement(Condition={"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}}))
    assert not evaluate([office], "cs:GetCluster", CLUSTER, context).allowed


def test_deny_on_the_current_user_applies_without_a_current_user() -> None:
    allow = attached("Full", statement(action="ram:*"))
    deny = attached("NotMe", statement(effect="Deny", action="ram:*", resource="acs:ram:*:*:user/${acs:CurrentUser}"))
    assert not evaluate([allow, deny], "ram:GetUser", "acs:ram:*:*:user/alice").allowed
    assert evaluate([allow, deny], "ram:GetUser", "acs:ram:*:*:user/alice", {"acs:CurrentUser": "bob"}).allowed


def test_current_user_variable_is_substituted_literally() -> None:
    own = attached("Self", statement(action="ram:*", resource="acs:ram:*:*:user/${acs:CurrentUser}"))
    assert evaluate([own], "ram:GetUser", "acs:ram:*:*:user/alice", {"acs:CurrentUser": "alice"}).allowed
    assert not evaluate([own], "ram:GetUser", "acs:ram:*:*:user/bob", {"acs:CurrentUser": "alice"}).allowed
    assert not evaluate([own], "ram:GetUser", "acs:ram:*:*:user/alice").allowed
    assert not evaluate([own], "ram:GetUser", "acs:ram:*:*:user/${acs:CurrentUser}").allowed
    # The name is literal text: a user called "*" does not get everybody's resources.
    assert not evaluate([own], "ram:GetUser", "acs:ram:*:*:user/bob", {"acs:CurrentUser": "*"}).allowed
    assert evaluate([own], "ram:GetUser", "acs:ram:*:*:user/*", {"ACS:CURRENTUSER": "*"}).allowed


# --- system policies -----------------------------------------------------------------------------------------------


def system(name: str) -> Attached:
    """A system policy, attached to the user."""
    return Attached(name=name, version="v1", document=parse(SYSTEM_POLICIES[name]["document"]))


@pytest.mark.parametrize("name", sorted(SYSTEM_POLICIES))
def test_system_policies_parse(name: str) -> None:
    assert SYSTEM_POLICIES[name]["description"]
    assert parse(SYSTEM_POLICIES[name]["document"]).statements


def test_system_policy_names() -> None:
    assert set(SYSTEM_POLICIES) == {
        "AdministratorAccess",
        "AliyunCSFullAccess",
        "AliyunCSReadOnlyAccess",
        "AliyunRAMSelfServiceAccess",
    }


@pytest.mark.parametrize(
    ("name", "action", "expected"),
    [
        ("AdministratorAccess", "cs:DeleteCluster", True),
        ("AdministratorAccess", "ram:CreateUser", True),
        ("AliyunCSFullAccess", "cs:DeleteCluster", True),
        ("AliyunCSFullAccess", "ram:CreateUser", False),
        ("AliyunCSReadOnlyAccess", "cs:DescribeClusters", True),
        ("AliyunCSReadOnlyAccess", "cs:ListApplications", True),
        ("AliyunCSReadOnlyAccess", "cs:GetCluster", True),
        ("AliyunCSReadOnlyAccess", "cs:DeleteCluster", False),
        ("AliyunCSReadOnlyAccess", "cs:CreateCluster", False),
        ("AliyunCSReadOnlyAccess", "ram:ListUsers", False),
    ],
)
def test_system_policies_behave(name: str, action: str, expected: bool) -> None:
    assert evaluate([system(name)], action, CLUSTER).allowed is expected


@pytest.mark.parametrize(
    ("action", "resource", "expected"),
    [
        ("ram:CreateAccessKey", "acs:ram:*:*:user/alice", True),
        ("ram:DeleteAccessKey", "acs:ram:*:*:user/alice", True),
        ("ram:ListAccessKeys", "acs:ram:*:*:user/alice", True),
        ("ram:CreateVirtualMFADevice", "acs:ram:*:*:user/alice", True),
        ("ram:ChangePassword", "acs:ram:*:*:user/alice", True),
        ("ram:GetUser", "acs:ram:*:*:user/alice", True),
        ("ram:CreateAccessKey", "acs:ram:*:*:user/bob", False),
        ("ram:ChangePassword", "acs:ram:*:*:user/bob", False),
        ("ram:DeleteUser", "acs:ram:*:*:user/alice", False),
        ("cs:DescribeClusters", "acs:ram:*:*:user/alice", False),
    ],
)
def test_self_service_is_limited_to_the_current_user(action: str, resource: str, expected: bool) -> None:
    decision = evaluate([system("AliyunRAMSelfServiceAccess")], action, resource, {"acs:CurrentUser": "alice"})
    assert decision.allowed is expected


# --- properties ----------------------------------------------------------------------------------------------------

ACTIONS = ["cs:DescribeClusters", "cs:DeleteCluster", "cs:GetApp", "ram:CreateAccessKey"]
ACTION_PATTERNS = [*ACTIONS, "*", "cs:*", "cs:Get*", "cs:D?leteCluster", "ram:*", "CS:describe*"]
RESOURCES = [CLUSTER, OTHER_CLUSTER, "acs:ram:*:*:user/alice"]
RESOURCE_PATTERNS = [
    *RESOURCES,
    "*",
    "acs:cs:*:*:cluster/*",
    "acs:cs:*:*:cluster/c?",
    "acs:ram:*:*:user/${acs:CurrentUser}",
]
CONDITIONS = [
    {"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}},
    {"NotIpAddress": {"acs:SourceIp": "10.0.0.0/8"}},
    {"Bool": {"acs:MFAPresent": True}},
    {"StringNotEquals": {"cs:Tag": "prod"}},
]
CONTEXTS = [
    {},
    {"acs:CurrentUser": "alice"},
    {"acs:SourceIp": "10.0.0.1", "acs:MFAPresent": True, "cs:Tag": "dev"},
    {"acs:SourceIp": "8.8.8.8", "acs:MFAPresent": "false", "cs:Tag": "prod", "acs:CurrentUser": "bob"},
]


def statements(effects: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Statement objects drawn from small vocabularies, so that they often match."""
    base = st.fixed_dictionaries(
        {
            "Effect": st.sampled_from(effects),
            "Action": st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=3),
            "Resource": st.lists(st.sampled_from(RESOURCE_PATTERNS), min_size=1, max_size=3),
        },
        optional={"Condition": st.sampled_from(CONDITIONS)},
    )
    return base


def policies(effects: list[str]) -> st.SearchStrategy[Attached]:
    """Attached policies made of such statements."""
    return st.builds(
        Attached,
        name=st.sampled_from(["A", "B", "C"]),
        version=st.sampled_from(["v1", "v2"]),
        document=st.lists(statements(effects), min_size=1, max_size=4).map(lambda items: parse(document(*items))),
        via=st.sampled_from(["user", "group:dev", "group:ops"]),
    )


ANY_POLICIES = st.lists(policies(["Allow", "Deny"]), max_size=4)


@given(
    others=ANY_POLICIES,
    position=st.integers(min_value=0, max_value=4),
    action=st.sampled_from(ACTIONS),
    resource=st.sampled_from(RESOURCES),
    exact=st.booleans(),
    context=st.sampled_from(CONTEXTS),
)
def test_matching_deny_always_denies(
    others: list[Attached], position: int, action: str, resource: str, exact: bool, context: dict[str, Any]
) -> None:
    deny = attached("Deny", statement(effect="Deny", action=action if exact else "*", resource=resource))
    everything = [*others[:position], deny, *others[position:]]
    decision = evaluate(everything, action, resource, context)
    assert not decision.allowed
    assert decision.effect == "Deny"


@given(
    before=ANY_POLICIES,
    extra=policies(["Allow"]),
    position=st.integers(min_value=0, max_value=4),
    action=st.sampled_from(ACTIONS),
    resource=st.sampled_from(RESOURCES),
    context=st.sampled_from(CONTEXTS),
)
def test_adding_an_allow_never_takes_access_away(
    before: list[Attached], extra: Attached, position: int, action: str, resource: str, context: dict[str, Any]
) -> None:
    after = [*before[:position], extra, *before[position:]]
    if evaluate(before, action, resource, context).allowed:
        assert evaluate(after, action, resource, context).allowed


@given(
    policies_=ANY_POLICIES,
    action=st.sampled_from(ACTIONS),
    resource=st.sampled_from(RESOURCES),
    context=st.sampled_from(CONTEXTS),
    dropped=st.sets(st.sampled_from(["acs:SourceIp", "acs:MFAPresent", "cs:Tag", "acs:CurrentUser"])),
)
def test_less_context_never_grants_more(
    policies_: list[Attached], action: str, resource: str, context: dict[str, Any], dropped: set[str]
) -> None:
    smaller = {key: value for key, value in context.items() if key not in dropped}
    if evaluate(policies_, action, resource, smaller).allowed:
        assert evaluate(policies_, action, resource, context).allowed


def ascii_lower(text: str) -> str:
    """Lower-case the ASCII letters of ``text`` and nothing else."""
    return "".join(chr(ord(char) + 32) if "A" <= char <= "Z" else char for char in text)


LITERALS = st.text(max_size=20).map(lambda text: text.replace("*", "").replace("?", ""))


@given(pattern=LITERALS, other=st.text(max_size=20), data=st.data())
def test_patterns_without_wildcards_mean_equality(pattern: str, other: str, data: st.DataObject) -> None:
    value = data.draw(st.sampled_from([pattern, pattern.swapcase(), pattern.upper(), other]))
    assert match(pattern, value, case_sensitive=True) is (pattern == value)
    assert match(pattern, value, case_sensitive=False) is (ascii_lower(pattern) == ascii_lower(value))


@given(prefix=LITERALS, value=st.text(max_size=30), use_prefix=st.booleans())
def test_star_and_prefix_star(prefix: str, value: str, use_prefix: bool) -> None:
    if use_prefix:
        value = prefix + value
    assert match("*", value, case_sensitive=True)
    assert match("*", value, case_sensitive=False)
    assert match(prefix + "*", value, case_sensitive=True) is value.startswith(prefix)
    assert match(prefix + "*", value, case_sensitive=False) is ascii_lower(value).startswith(ascii_lower(prefix))


def reference_match(pattern: str, value: str) -> bool:
    """A slow, obviously correct wildcard matcher to check the fast one against."""

    @cache
    def at(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(value)
        if pattern[i] == "*":
            return at(i + 1, j) or (j < len(value) and at(i, j + 1))
        return j < len(value) and pattern[i] in ("?", value[j]) and at(i + 1, j + 1)

    return at(0, 0)


@given(pattern=st.text(alphabet="ab*?.", max_size=10), value=st.text(alphabet="ab.", max_size=12))
def test_match_agrees_with_a_reference_matcher(pattern: str, value: str) -> None:
    assert match(pattern, value, case_sensitive=True) is reference_match(pattern, value)
