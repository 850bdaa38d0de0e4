"""Policy documents in the style of Alibaba Cloud RAM: parsing, wildcard matching and evaluation.

This is a pure core: plain data in, plain data out, no database and no I/O. A document looks like::

    {"Version": "1",
     "Statement": [{"Effect": "Allow",
                    "Action": ["cs:Get*", "cs:List*"],
                    "Resource": "acs:cs:*:*:cluster/*",
                    "Condition": {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}}}]}

``parse`` turns such a document into immutable ``Document``/``Statement``/``Condition`` values or raises
``PolicyError`` naming the JSON path of the first problem. ``evaluate`` decides a request (action, resource,
context) against every policy attached to a principal:

* an explicit ``Deny`` in any matching statement wins, and the decision names that statement;
* otherwise the first matching ``Allow`` (in input order) grants the request;
* otherwise the request is implicitly denied.

A statement matches when one of its actions matches (case-insensitively), one of its resources matches
(case-sensitively) and all of its conditions hold. Patterns use ``*`` (any run of characters, ``:`` and ``/``
included) and ``?`` (exactly one character); nothing else is special.

Resource patterns may contain the literal variable ``${acs:CurrentUser}``; ``evaluate`` replaces it with the
context value ``acs:CurrentUser`` (the requesting user's name, taken literally, never as a wildcard).

What the context does not say never lifts a Deny (fail closed). Condition keys are looked up in the context
case-insensitively; a key that is missing, or whose value has the wrong type (an empty or malformed address),
leaves its condition *unknown*: an unknown condition fails in an ``Allow`` statement and holds in a ``Deny``
statement, negative operators included. So a Deny "outside 10.0.0.0/8" applies to a request whose address is
not known, and an Allow "only inside 10.0.0.0/8" grants nothing to it. Likewise, without a current user a
pattern that uses ``${acs:CurrentUser}`` matches nothing in an Allow and stands for any name in a Deny. As a
consequence, removing a key from the context never grants more. (AWS lets negated operators hold when the key
is missing, for Allow too, and offers ``...IfExists`` operators that hold on a missing key; Alibaba RAM
documents neither, and this language has no ``IfExists`` operators.)

The core never consults a clock: callers that want ``acs:CurrentTime`` conditions to hold must put the
current time into the context.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

MAX_DOCUMENT_CHARS = 6144
MAX_VERSIONS = 5
MAX_STATEMENTS = 100
MAX_ENTRIES = 100
MAX_PATTERN_CHARS = 512
MAX_CONDITION_VALUES = 100
MAX_VALUE_CHARS = 512

CURRENT_USER_VARIABLE = "${acs:CurrentUser}"
CURRENT_USER_KEY = "acs:currentuser"

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_DOCUMENT_KEYS = ("Version", "Statement")
_STATEMENT_KEYS = ("Effect", "Action", "Resource", "Condition")
_EFFECTS = {"allow": "Allow", "deny": "Deny"}
_ACTION_RE = re.compile(r"\*|[A-Za-z0-9_*?-]+:[A-Za-z0-9_.*?-]+")
_IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_IP_OPERATORS = ("IpAddress", "NotIpAddress")
_BOOL_OPERATORS = ("Bool",)
_DATE_OPERATORS = ("DateGreaterThan", "DateLessThan")
_STRING_OPERATORS = ("StringEquals", "StringNotEquals", "StringLike")
OPERATORS = _IP_OPERATORS + _BOOL_OPERATORS + _DATE_OPERATORS + _STRING_OPERATORS
_OPERATOR_NAMES = {name.lower(): name for name in OPERATORS}

# Keys whose values have a type of their own, with their documented spelling and the operators they accept.
_TYPED_KEYS: dict[str, tuple[str, tuple[str, ...]]] = {
    "acs:sourceip": ("acs:SourceIp", _IP_OPERATORS),
    "acs:mfapresent": ("acs:MFAPresent", _BOOL_OPERATORS),
    "acs:securetransport": ("acs:SecureTransport", _BOOL_OPERATORS),
    "acs:currenttime": ("acs:CurrentTime", _DATE_OPERATORS),
}
CONDITION_KEYS: tuple[str, ...] = tuple(spelling for spelling, _operators in _TYPED_KEYS.values())
"""The request-context keys conditions test, as documented (matched without regard to case)."""


class PolicyError(ValueError):
    """A malformed policy document; ``path`` is the JSON path of the problem, e.g. "$.Statement[1].Action[0]"."""

    path: str
    message: str

    def __init__(self, path: str, message: str) -> None:
        super().__init__(path, message)
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class Condition:
    """One condition key under one operator, with its parsed values (any of which may match)."""

    operator: str
    key: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Statement:
    """One statement of a policy document, normalised."""

    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Document:
    """A parsed, valid policy document."""

    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class Attached:
    """A policy as attached to a principal."""

    name: str
    version: str
    document: Document
    via: str = "user"


@dataclass(frozen=True)
class Decision:
    """The outcome of ``evaluate``: whether the request is allowed and which statement decided it."""

    allowed: bool
    effect: str
    policy: str | None = None
    version: str | None = None
    statement: int | None = None
    via: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The decision as JSON-able data (without ``allowed``, which follows from ``effect``)."""
        return {
            "effect": self.effect,
            "policy": self.policy,
            "version": self.version,
            "statement": self.statement,
            "via": self.via,
        }


# --- JSON paths and messages -------------------------------------------------------------------------------------


def _key_path(parent: str, key: Any) -> str:
    """The path of ``key`` inside the object at ``parent``: ``.Key`` for plain names, ``["a:b"]`` otherwise."""
    if isinstance(key, str) and _IDENTIFIER_RE.fullmatch(key):
        return f"{parent}.{key}"
    return f"{parent}[{json.dumps(str(key), ensure_ascii=False)}]"


def _shown(value: Any) -> str:
    """A short rendering of a document value for error messages."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _one_of(names: Sequence[str]) -> str:
    """``"A"``, ``"A" or "B"``, ``"A", "B" or "C"``."""
    quoted = [f'"{name}"' for name in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


# --- parsing -----------------------------------------------------------------------------------------------------


def validate(document: Any) -> None:
    """Raise ``PolicyError`` if ``document`` is not a valid policy document."""
    parse(document)


def parse(document: Any) -> Document:
    """Check a JSON-decoded policy document and return it normalised; raise ``PolicyError`` on the first problem."""
    _check_size(document)
    if not isinstance(document, dict):
        raise PolicyError("$", "must be a JSON object with the keys Version and Statement")
    _check_keys(document, "$", _DOCUMENT_KEYS)
    if "Version" not in document:
        raise PolicyError("$.Version", 'is required and must be "1"')
    if document["Version"] != "1" or not isinstance(document["Version"], str):
        raise PolicyError("$.Version", f'must be the string "1"; got {_shown(document["Version"])}')
    if "Statement" not in document:
        raise PolicyError("$.Statement", "is required and must be a list of statements")
    return Document(statements=_parse_statements(document["Statement"], "$.Statement"))


def _check_size(document: Any) -> None:
    """Refuse documents whose compact JSON is longer than ``MAX_DOCUMENT_CHARS``."""
    try:
        # Values JSON cannot represent are measured by their type name; the structural checks reject them later.
        text = json.dumps(document, separators=(",", ":"), skipkeys=True, default=lambda value: type(value).__name__)
    except ValueError as exc:  # circular references
        raise PolicyError("$", "must be plain JSON data without circular references") from exc
    if len(text) > MAX_DOCUMENT_CHARS:
        raise PolicyError(
            "$", f"is {len(text)} characters of JSON; a policy document may have at most {MAX_DOCUMENT_CHARS}"
        )


def _check_keys(mapping: dict[Any, Any], path: str, allowed: Sequence[str]) -> None:
    """Reject keys of ``mapping`` that are not in ``allowed`` (keys are case-sensitive)."""
    for key in mapping:
        if key in allowed:
            continue
        hint = next((name for name in allowed if isinstance(key, str) and name.lower() == key.lower()), None)
        if hint:
            message = f'is not a known key; keys are case-sensitive, did you mean "{hint}"?'
        else:
            message = f"is not a known key; expected {_one_of(allowed)}"
        raise PolicyError(_key_path(path, key), message)


def _parse_statements(value: Any, path: str) -> tuple[Statement, ...]:
    """Parse the Statement list."""
    if not isinstance(value, list | tuple):
        raise PolicyError(path, f"must be a list of statements; got {_shown(value)}")
    if not value:
        raise PolicyError(path, "must list at least one statement")
    if len(value) > MAX_STATEMENTS:
        raise PolicyError(path, f"must list at most {MAX_STATEMENTS} statements; got {len(value)}")
    return tuple(_parse_statement(item, f"{path}[{index}]") for index, item in enumerate(value))


def _parse_statement(value: Any, path: str) -> Statement:
    """Parse one statement object."""
    if not isinstance(value, dict):
        raise PolicyError(path, "must be a JSON object with Effect, Action, Resource and optionally Condition")
    _check_keys(value, path, _STATEMENT_KEYS)
    expectations = {
        "Effect": 'must be "Allow" or "Deny"',
        "Action": "must be an action or a list of actions",
        "Resource": "must be a resource or a list of resources",
    }
    for required, expected in expectations.items():
        if required not in value:
            raise PolicyError(f"{path}.{required}", f"is required and {expected}")
    return Statement(
        effect=_parse_effect(value["Effect"], f"{path}.Effect"),
        actions=tuple(_parse_action(item, at) for item, at in _entries(value["Action"], f"{path}.Action")),
        resources=tuple(item for item, _ in _entries(value["Resource"], f"{path}.Resource")),
        conditions=_parse_conditions(value["Condition"], f"{path}.Condition") if "Condition" in value else (),
    )


def _parse_effect(value: Any, path: str) -> str:
    """Normalise an Effect to "Allow" or "Deny"."""
    effect = _EFFECTS.get(value.lower()) if isinstance(value, str) else None
    if effect is None:
        raise PolicyError(path, f'must be "Allow" or "Deny"; got {_shown(value)}')
    return effect


def _entries(value: Any, path: str) -> list[tuple[str, str]]:
    """The (pattern, path) pairs of an Action or Resource: a non-empty string or a non-empty list of them."""
    if isinstance(value, str):
        return [(_pattern(value, path), path)]
    if not isinstance(value, list | tuple):
        raise PolicyError(path, f"must be a string or a list of strings; got {_shown(value)}")
    if not value:
        raise PolicyError(path, "must list at least one entry")
    if len(value) > MAX_ENTRIES:
        raise PolicyError(path, f"must list at most {MAX_ENTRIES} entries; got {len(value)}")
    return [(_pattern(item, f"{path}[{index}]"), f"{path}[{index}]") for index, item in enumerate(value)]


def _pattern(value: Any, path: str) -> str:
    """Check one Action or Resource pattern: a non-empty string of at most ``MAX_PATTERN_CHARS`` characters."""
    if not isinstance(value, str) or not value:
        raise PolicyError(path, f"must be a non-empty string; got {_shown(value)}")
    if len(value) > MAX_PATTERN_CHARS:
        raise PolicyError(path, f"must be at most {MAX_PATTERN_CHARS} characters long; got {len(value)}")
    return value


def _parse_action(value: str, path: str) -> str:
    """Check that an Action pattern is "*" or has the form "<service>:<Action>"."""
    if not _ACTION_RE.fullmatch(value):
        raise PolicyError(
            path, f'must be "*" or "<service>:<Action>" such as "cs:DescribeClusters"; got {_shown(value)}'
        )
    return value


def _parse_conditions(value: Any, path: str) -> tuple[Condition, ...]:
    """Parse a Condition object: operator -> {key: value or list of values}."""
    if not isinstance(value, dict):
        raise PolicyError(path, f"must be a JSON object mapping condition operators to keys; got {_shown(value)}")
    conditions: list[Condition] = []
    for name, block in value.items():
        operator_path = _key_path(path, name)
        operator = _OPERATOR_NAMES.get(name.lower()) if isinstance(name, str) else None
        if operator is None:
            raise PolicyError(operator_path, f"is not a known condition operator; expected {_one_of(OPERATORS)}")
        if not isinstance(block, dict) or not block:
            raise PolicyError(operator_path, "must be a non-empty JSON object mapping condition keys to values")
        for key, raw in block.items():
            key_path = _key_path(operator_path, key)
            canonical = _parse_condition_key(operator, key, key_path)
            conditions.append(Condition(operator, canonical, _parse_condition_values(operator, raw, key_path)))
    return tuple(conditions)


def _parse_condition_key(operator: str, key: Any, path: str) -> str:
    """Check that ``key`` may be used with ``operator`` and return it in lower case."""
    if not isinstance(key, str) or not key:
        raise PolicyError(path, 'must be a non-empty condition key such as "acs:SourceIp"')
    canonical = key.lower()
    typed = _TYPED_KEYS.get(canonical)
    if typed is not None and operator not in typed[1]:
        raise PolicyError(path, f"can only be used with the condition operator {_one_of(typed[1])}, not {operator}")
    if typed is None and operator not in _STRING_OPERATORS:
        keys = [spelling for spelling, operators in _TYPED_KEYS.values() if operator in operators]
        raise PolicyError(path, f"is not a key {operator} applies to; expected {_one_of(keys)}")
    return canonical


def _parse_condition_values(operator: str, raw: Any, path: str) -> tuple[Any, ...]:
    """Parse a single condition value or a non-empty list of them with the operator's value parser."""
    parser = _VALUE_PARSERS[operator]
    if not isinstance(raw, list | tuple):
        return (_parse_value(parser, raw, path),)
    if not raw:
        raise PolicyError(path, "must list at least one value")
    if len(raw) > MAX_CONDITION_VALUES:
        raise PolicyError(path, f"must list at most {MAX_CONDITION_VALUES} values; got {len(raw)}")
    return tuple(_parse_value(parser, item, f"{path}[{index}]") for index, item in enumerate(raw))


def _parse_value(parser: Callable[[Any], Any], value: Any, path: str) -> Any:
    """Run one value parser, turning its ``ValueError`` into a ``PolicyError`` at ``path``."""
    try:
        return parser(value)
    except ValueError as exc:
        raise PolicyError(path, f"{exc}; got {_shown(value)}") from None


def _ip_value(value: Any) -> IpNetwork:
    """An IP address or CIDR block as a network (a single address becomes a /32 or /128)."""
    if not isinstance(value, str):
        raise ValueError('must be an IP address or CIDR block such as "10.0.0.0/8"')
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError('must be an IP address or CIDR block such as "10.0.0.0/8"') from None


def _bool_value(value: Any) -> bool:
    """A JSON boolean or the string "true" or "false"."""
    parsed = _as_bool(value)
    if parsed is None:
        raise ValueError('must be true or false, as a JSON boolean or the string "true" or "false"')
    return parsed


def _date_value(value: Any) -> datetime:
    """An ISO 8601 date and time; without a time zone it is taken as UTC."""
    parsed = _as_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise ValueError('must be an ISO 8601 date and time such as "2027-01-01T00:00:00Z"')
    return parsed


def _string_value(value: Any) -> str:
    """A string of at most ``MAX_VALUE_CHARS`` characters."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) > MAX_VALUE_CHARS:
        raise ValueError(f"must be at most {MAX_VALUE_CHARS} characters long")
    return value


_VALUE_PARSERS: dict[str, Callable[[Any], Any]] = {
    **dict.fromkeys(_IP_OPERATORS, _ip_value),
    **dict.fromkeys(_BOOL_OPERATORS, _bool_value),
    **dict.fromkeys(_DATE_OPERATORS, _date_value),
    **dict.fromkeys(_STRING_OPERATORS, _string_value),
}


def _as_bool(value: Any) -> bool | None:
    """``value`` as a bool if it is one or spells one ("true"/"false", any case), else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _as_datetime(value: Any) -> datetime | None:
    """``value`` (a datetime or an ISO 8601 string) as an aware datetime, naive ones taken as UTC; else None."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _as_ip(value: Any) -> IpAddress | None:
    """``value`` (a string or address object) as an IP address, IPv4-mapped IPv6 unwrapped; else None."""
    if isinstance(value, str):
        try:
            value = ipaddress.ip_address(value)
        except ValueError:
            return None
    if isinstance(value, ipaddress.IPv6Address) and value.ipv4_mapped is not None:
        return value.ipv4_mapped
    return value if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address) else None


# --- wildcard matching -------------------------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Lower-case ASCII letters only, so that ``?`` still stands for exactly one character."""
    return text.translate(_ASCII_LOWER)


def _segments(pattern: str, current_user: str | None) -> list[str]:
    """Regex sources of the parts of ``pattern`` between its ``*`` wildcards (``?`` becomes ``.``).

    With ``current_user``, each ``${acs:CurrentUser}`` in the pattern stands for that name, taken literally.
    """
    pieces = pattern.split(CURRENT_USER_VARIABLE) if current_user is not None else [pattern]
    segments = [""]
    for number, piece in enumerate(pieces):
        if number:
            segments[-1] += re.escape(current_user or "")
        for index, part in enumerate(piece.split("*")):
            if index:
                segments.append("")
            segments[-1] += "".join("." if char == "?" else re.escape(char) for char in part)
    return segments


@lru_cache(maxsize=4096)
def _compile(pattern: str, case_sensitive: bool, current_user: str | None = None) -> re.Pattern[str]:
    """Compile a wildcard pattern into an anchored regex (use with ``fullmatch``).

    Every ``*`` except the last becomes an atomic lazy group, ``(?>.*?segment)``: taking the leftmost
    occurrence of each middle segment is always safe for wildcard patterns, and forbidding backtracking into
    it keeps matching linear-ish even for hostile patterns like ``*a*a*a*a*b``.
    """
    if not case_sensitive:
        pattern, current_user = _fold(pattern), None if current_user is None else _fold(current_user)
    segments = _segments(pattern, current_user)
    if len(segments) == 1:
        source = segments[0]
    else:
        first, *middle, last = segments
        source = first + "".join(f"(?>.*?{segment})" for segment in middle if segment) + ".*" + last
    return re.compile(source, re.DOTALL)


def match(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    """Whether ``value`` matches the wildcard ``pattern`` (``*`` any run of characters, ``?`` one character).

    Case-insensitive matching folds ASCII letters only (action names are ASCII).
    """
    if not case_sensitive:
        value = _fold(value)
    return _compile(pattern, case_sensitive).fullmatch(value) is not None


def action_matches(pattern: str, action: str) -> bool:
    """Whether ``action`` (e.g. "cs:DescribeClusters") matches an Action pattern, ignoring case."""
    return match(pattern, action, case_sensitive=False)


def resource_matches(pattern: str, resource: str) -> bool:
    """Whether ``resource`` matches a Resource pattern, case-sensitively (no variable substitution)."""
    return match(pattern, resource, case_sensitive=True)


def _resource_applies(pattern: str, resource: str, context: Mapping[str, Any], *, deny: bool = False) -> bool:
    """Match a Resource pattern, replacing ``${acs:CurrentUser}`` with the context's current user name.

    Without a current user the variable matches nothing, except in a Deny, where it stands for any name.
    """
    if CURRENT_USER_VARIABLE not in pattern:
        return resource_matches(pattern, resource)
    user = context.get(CURRENT_USER_KEY)
    if not isinstance(user, str) or not user:
        return deny and resource_matches(pattern.replace(CURRENT_USER_VARIABLE, "*"), resource)
    return _compile(pattern, True, user).fullmatch(resource) is not None


# --- conditions and evaluation -----------------------------------------------------------------------------------


def _ip_in(values: tuple[Any, ...], actual: Any) -> bool | None:
    """Whether the address is in any listed network; None if it is not an address."""
    address = _as_ip(actual)
    return None if address is None else any(address in network for network in values)


def _bool_in(values: tuple[Any, ...], actual: Any) -> bool | None:
    """Whether the boolean equals any listed value; None if it is not a boolean."""
    flag = _as_bool(actual)
    return None if flag is None else flag in values


def _after_any(values: tuple[Any, ...], actual: Any) -> bool | None:
    """Whether the time is later than any listed time; None if it is not a time."""
    moment = _as_datetime(actual)
    return None if moment is None else any(moment > value for value in values)


def _before_any(values: tuple[Any, ...], actual: Any) -> bool | None:
    """Whether the time is earlier than any listed time; None if it is not a time."""
    moment = _as_datetime(actual)
    return None if moment is None else any(moment < value for value in values)


def _equals_any(values: tuple[Any, ...], actual: Any) -> bool | None:
    """Whether the string equals any listed string; None if it is not a string."""
    return actual in values if isinstance(actual, str) else None


def _like_any(values: tuple[Any, ...], actual: Any) -> bool | None:
    """Whether the string matches any listed wildcard pattern; None if it is not a string."""
    return any(match(value, actual, case_sensitive=True) for value in values) if isinstance(actual, str) else None


# Operator -> (test of the context value against the values, whether the operator negates the test).
_TESTS: dict[str, tuple[Callable[[tuple[Any, ...], Any], bool | None], bool]] = {
    "IpAddress": (_ip_in, False),
    "NotIpAddress": (_ip_in, True),
    "Bool": (_bool_in, False),
    "DateGreaterThan": (_after_any, False),
    "DateLessThan": (_before_any, False),
    "StringEquals": (_equals_any, False),
    "StringNotEquals": (_equals_any, True),
    "StringLike": (_like_any, False),
}


def condition_outcome(condition: Condition, context: Mapping[str, Any]) -> bool | None:
    """Whether one condition holds in a context whose keys are already lower-case; None when it is unknown
    (the key is missing, or its value has the wrong type), for negative operators too."""
    if condition.key not in context:
        return None
    test, negated = _TESTS[condition.operator]
    outcome = test(condition.values, context[condition.key])
    if outcome is None:
        return None
    return not outcome if negated else outcome


def condition_holds(condition: Condition, context: Mapping[str, Any], *, deny: bool = False) -> bool:
    """Whether one condition holds for an ``Allow`` statement (or, with ``deny``, for a ``Deny`` statement).

    An unknown condition fails for an Allow and holds for a Deny: missing context never lifts a Deny.
    """
    outcome = condition_outcome(condition, context)
    return deny if outcome is None else outcome


def _normalise_context(context: Mapping[str, Any] | None) -> dict[str, Any]:
    """The context with lower-case keys."""
    return {str(key).lower(): value for key, value in (context or {}).items()}


def _applies(statement: Statement, action: str, resource: str, context: Mapping[str, Any]) -> bool:
    """``statement_applies`` for a context with lower-case keys."""
    deny = statement.effect == "Deny"
    return (
        any(action_matches(pattern, action) for pattern in statement.actions)
        and any(_resource_applies(pattern, resource, context, deny=deny) for pattern in statement.resources)
        and all(condition_holds(condition, context, deny=deny) for condition in statement.conditions)
    )


def statement_applies(statement: Statement, action: str, resource: str, context: Mapping[str, Any]) -> bool:
    """Whether the statement matches the action, the resource and all its conditions hold in ``context``
    (unknown conditions fail in an Allow and hold in a Deny)."""
    return _applies(statement, action, resource, _normalise_context(context))


def evaluate(
    policies: Sequence[Attached], action: str, resource: str, context: Mapping[str, Any] | None = None
) -> Decision:
    """Decide a request against all policies attached to a principal (its own and its groups').

    An explicit Deny anywhere wins; otherwise the first matching Allow in input order; otherwise implicit deny.
    ``context`` keys may use any letter case; ``acs:CurrentUser`` fills ``${acs:CurrentUser}`` in resources.
    """
    normalised = _normalise_context(context)
    allow: Decision | None = None
    for attached in policies:
        for index, statement in enumerate(attached.document.statements):
            if statement.effect == "Allow" and allow is not None:
                continue
            if not _applies(statement, action, resource, normalised):
                continue
            decision = Decision(
                allowed=statement.effect == "Allow",
                effect=statement.effect,
                policy=attached.name,
                version=attached.version,
                statement=index,
                via=attached.via,
            )
            if not decision.allowed:
                return decision
            allow = decision
    return allow or Decision(allowed=False, effect="ImplicitDeny")


# --- system policies ---------------------------------------------------------------------------------------------

SYSTEM_POLICIES: dict[str, dict[str, Any]] = {
    "AdministratorAccess": {
        "description": "Full access to every service and resource.",
        "document": {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
    },
    "AliyunCSFullAccess": {
        "description": "Full access to the container service: clusters, nodes and applications.",
        "document": {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "cs:*", "Resource": "*"}]},
    },
    "AliyunCSReadOnlyAccess": {
        "description": "Read-only access to the container service.",
        "document": {
            "Version": "1",
            "Statement": [{"Effect": "Allow", "Action": ["cs:Get*", "cs:List*", "cs:Describe*"], "Resource": "*"}],
        },
    },
    "AliyunRAMSelfServiceAccess": {
        "description": "Lets users manage their own password, MFA devices and access keys.",
        "document": {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["ram:ChangePassword", "ram:GetUser"],
                    "Resource": "acs:ram:*:*:user/${acs:CurrentUser}",
                },
                {
                    "Effect": "Allow",
                    "Action": ["ram:*MFADevice*", "ram:*AccessKey*"],
                    "Resource": "acs:ram:*:*:user/${acs:CurrentUser}",
                },
            ],
        },
    },
}
