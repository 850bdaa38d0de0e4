"""Validation of what users type to deploy an application: every bad field named, nothing created."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.image_spec import IMAGE_RE, ImageAppSpec, validate_spec
from apps.operations import parse_environment


@pytest.mark.parametrize(
    "image",
    [
        "nginx",
        "nginx:1.25",
        "local/busybox:1",
        "registry:5000/team/app:v2",
        "a.b.c/x/y_z__w-q:latest",
        "busybox@sha256:" + "a" * 64,
    ],
)
def test_valid_image_references(image: str) -> None:
    assert IMAGE_RE.match(image)


@pytest.mark.parametrize(
    "image",
    [
        "",
        "UPPER/case",
        "nginx:",
        "-nginx",
        "nginx; rm -rf /",
        "nginx:tag with space",
        "nginx$(id)",
        "a//b",
        "nginx@sha256:short",
    ],
)
def test_malformed_image_references(image: str) -> None:
    assert not IMAGE_RE.match(image)


@pytest.mark.parametrize(
    ("field", "spec"),
    [
        ("name", ImageAppSpec(name="Bad_Name", image="nginx")),
        ("name", ImageAppSpec(name="web;rm", image="nginx")),
        ("name", ImageAppSpec(name="-web", image="nginx")),
        ("name", ImageAppSpec(name="a" * 64, image="nginx")),
        ("image", ImageAppSpec(name="web", image="not a ref")),
        ("scale", ImageAppSpec(name="web", image="nginx", scale=0)),
        ("scale", ImageAppSpec(name="web", image="nginx", scale=101)),
        ("container_port", ImageAppSpec(name="web", image="nginx", container_port=70000)),
        ("host_port", ImageAppSpec(name="web", image="nginx", container_port=80, host_port=0)),
        ("host_port", ImageAppSpec(name="web", image="nginx", host_port=8080)),
        ("environment", ImageAppSpec(name="web", image="nginx", environment={"1BAD": "x"})),
        ("environment", ImageAppSpec(name="web", image="nginx", environment={"OK": "a\x00b"})),
        ("command", ImageAppSpec(name="web", image="nginx", command="sh -c 'unclosed")),
    ],
)
def test_bad_field_is_named(field: str, spec: ImageAppSpec) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_spec(spec)
    assert field in caught.value.message_dict


def test_good_spec_gives_argv_and_environment() -> None:
    argv, env = validate_spec(
        ImageAppSpec(name="web", image="local/busybox:1", command="httpd -f -p 80", environment={"A": "1"})
    )
    assert argv == ["httpd", "-f", "-p", "80"]
    assert env == {"A": "1"}


def test_environment_lines() -> None:
    assert parse_environment("A=1\n# comment\n\nB = two=2\n") == {"A": "1", "B": " two=2"}
    with pytest.raises(ValidationError, match="Line 2"):
        parse_environment("A=1\nnot a pair")
