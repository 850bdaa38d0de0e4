"""Whatever a user writes, load() returns a model or raises ComposeError: never another exception."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.compose import ComposeError, load
from apps.compose.service import SERVICE_FIELDS

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-70000, max_value=70000),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["", "80", "8080:80", "a=b", "/data", "db", "x:/y:ro", "1m", "512m", "${X:-1}", "service:db"]),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
KEYS = st.sampled_from(sorted(SERVICE_FIELDS) + ["volumes", "extends", "x-a", "build", "bogus"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(service=st.dictionaries(KEYS, VALUES, max_size=4), extra=st.dictionaries(KEYS, VALUES, max_size=2))
def test_arbitrary_services_never_crash(service: dict, extra: dict) -> None:
    document = {"services": {"web": {"image": "nginx", **service}, "db": {"image": "postgres", **extra}}}
    try:
        model = load(json.dumps(document), strict_variables=False)
    except ComposeError as error:
        assert error.errors
    else:
        assert json.loads(json.dumps(model)) == model


RESOURCE_KEYS = st.sampled_from(["name", "driver", "driver_opts", "external", "internal", "labels", "ipam", "bogus"])
RESOURCES = st.dictionaries(RESOURCE_KEYS, VALUES)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    networks=st.dictionaries(st.sampled_from(["default", "front", "bad name"]), RESOURCES),
    volumes=st.dictionaries(st.sampled_from(["data", "x"]), st.one_of(st.none(), RESOURCES)),
    top=st.dictionaries(st.sampled_from(["version", "name", "x-y", "secrets"]), VALUES, max_size=2),
)
def test_arbitrary_top_level_sections_never_crash(networks: dict, volumes: dict, top: dict) -> None:
    service = {"image": "nginx", "networks": list(networks), "volumes": [f"{name}:/{name}" for name in volumes]}
    document = {**top, "services": {"web": service}, "networks": networks, "volumes": volumes}
    try:
        model = load(json.dumps(document), strict_variables=False)
    except ComposeError as error:
        assert error.errors
    else:
        assert set(model["services"]) == {"web"}
