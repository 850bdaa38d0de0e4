"""Template parameters (variables()) and interpolation as Compose does it."""

from __future__ import annotations

import pytest

from apps.compose import ComposeError, Variable, load, load_with_warnings, variables
from apps.compose.interpolate import TemplateError, substitute


def interpolate(template: str, env: dict[str, str]) -> str:
    """One string interpolated the way Compose does (unset plain variables become empty)."""
    return substitute(template, env.get, lambda name: None)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$A", "a"),
        ("${A}", "a"),
        ("${UNSET}", ""),
        ("${EMPTY:-default}", "default"),
        ("${EMPTY-default}", ""),
        ("${UNSET-default}", "default"),
        ("${A:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${A:?boom}", "a"),
        ("$$A", "$A"),
        ("$${A}", "${A}"),
        ("5$", "5$"),
        ("$1", "$1"),
        ("a $ b", "a $ b"),
        ("${UNSET:-${ALSO:-${A}}}", "a"),
        ("${UNSET:-{json}}", "{json}"),
        ("${UNSET:-x}y}", "xy}"),
        ("$A-b", "a-b"),
        ("${UNSET:-$$literal}", "$literal"),
        ("pre-${A}-$A.post", "pre-a-a.post"),
    ],
)
def test_interpolation_forms(template: str, expected: str) -> None:
    assert interpolate(template, {"A": "a", "EMPTY": ""}) == expected


@pytest.mark.parametrize("template", ["${A", "${}", "${1A}", "${A.B}", "${A!x}"])
def test_invalid_templates(template: str) -> None:
    with pytest.raises(TemplateError, match="invalid interpolation format"):
        interpolate(template, {})


def test_required_messages() -> None:
    with pytest.raises(TemplateError, match="^required variable X is missing a value: need X$"):
        interpolate("${X:?need X}", {})
    with pytest.raises(TemplateError, match="^required variable X is missing a value$"):
        interpolate("${X?}", {})
    assert interpolate("${X?}", {"X": ""}) == ""


def test_defaults_are_only_evaluated_when_used() -> None:
    assert interpolate("${A:-${NEEDED:?never evaluated}}", {"A": "a"}) == "a"


def test_keys_are_not_interpolated() -> None:
    text = "services:\n  web:\n    image: x\n    environment:\n      $KEY: $VALUE\n"
    model = load(text, env={"KEY": "k", "VALUE": "v"})
    assert model["services"]["web"]["environment"] == {"$KEY": "v"}


def test_values_cast_after_interpolation() -> None:
    text = (
        "services:\n  web:\n    image: x\n    ports: ['${P}:80']\n    cpus: ${CPUS}\n    privileged: ${PRIV}\n"
        "    deploy: {replicas: '${N}'}\n    mem_limit: $MEM\n"
    )
    web = load(text, env={"P": "8080", "CPUS": "0.5", "PRIV": "true", "N": "3", "MEM": "1g"})["services"]["web"]
    assert web["ports"] == [{"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"}]
    assert (web["cpus"], web["privileged"], web["deploy"]["replicas"], web["mem_limit"]) == (0.5, True, 3, "1073741824")


def test_compose_behaviour_is_the_default_and_strict_names_every_use() -> None:
    text = "services:\n  web:\n    image: nginx$TAG\n    environment: [A=$TAG]\n"
    with pytest.raises(ComposeError) as caught:
        load(text, strict_variables=True)
    assert [str(problem) for problem in caught.value.errors] == [
        "services.web.image: variable TAG is not set and has no default",
        "services.web.environment[0]: variable TAG is not set and has no default",
    ]
    loaded = load_with_warnings(text)
    assert loaded.model["services"]["web"]["image"] == "nginx"
    assert [str(w) for w in loaded.warnings] == [  # named once, where first used
        "services.web.image: variable TAG is not set and has no default: it reads as an empty string"
    ]


def test_only_required_variables_are_refused() -> None:
    """``${VAR:?msg}`` and ``${VAR?msg}`` stay errors, as in Compose; an alternative or a default is no warning."""
    text = (
        "services:\n  web:\n    image: nginx\n    environment: ['A=${A:?say A}', 'B=${B?}', 'C=${C:+on}', 'D=${D-}']\n"
    )
    with pytest.raises(ComposeError) as caught:
        load(text)
    assert [str(problem) for problem in caught.value.errors] == [
        "services.web.environment[0]: required variable A is missing a value: say A",
        "services.web.environment[1]: required variable B is missing a value",
    ]
    assert load_with_warnings(text, env={"A": "a", "B": ""}).warnings == []


def test_variables_in_order_of_first_appearance() -> None:
    text = (
        "x-tag: &tag ${TAG:-latest}\n"
        "services:\n  app:\n    image: example/app:${TAG:-other}\n"
        "    environment:\n      - A=$PLAIN\n      - 'B=${TOKEN:?set the token}'\n      - 'C=${OUTER:-${INNER:-x}}'\n"
        "      - 'D=${MUST?}'\n      - 'E=${FLAG:+on}'\n      - 'F=${SOFT-}'\n      - 'G=$$NOT_A_VARIABLE'\n"
    )
    assert variables(text) == [
        Variable("TAG", default="latest"),
        Variable("PLAIN"),
        Variable("TOKEN", required=True, message="set the token"),
        Variable("OUTER", default="${INNER:-x}"),
        Variable("INNER", default="x"),
        Variable("MUST", required=True),
        Variable("FLAG"),
        Variable("SOFT", default=""),
    ]


def test_variables_of_several_files_and_v1() -> None:
    assert variables(
        ["web:\n  image: $IMAGE\n", "services:\n  web:\n    image: ${IMAGE:-x}\n    user: $USER_ID\n"]
    ) == [
        Variable("IMAGE"),
        Variable("USER_ID"),
    ]


def test_variables_refuses_bad_yaml() -> None:
    with pytest.raises(ComposeError, match="duplicate key"):
        variables("a: $X\na: $Y\n")
