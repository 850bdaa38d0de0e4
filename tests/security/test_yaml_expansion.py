"""A small request cannot cost gigabytes (issue 12): the expansion of a Compose text is capped in bytes (aliases,
variables, extends, port ranges) before it is built, the validate answer stays bounded, and validating needs
the template permission."""

from __future__ import annotations

import time

import pytest

from accounts.models import User
from apps.compose import MAX_BYTES
from tests.security.app_world import client_for, make_cluster, subaccount

pytestmark = pytest.mark.django_db

VALIDATE = "/api/v1/templates/validate"
BOUND = 2 * MAX_BYTES  # what an answer may weigh, whatever the text


def validate(user: User, body: dict) -> tuple[int, bytes, float]:
    started = time.monotonic()
    response = client_for(user).post(VALIDATE, body, format="json")
    return response.status_code, response.content, time.monotonic() - started


def alias_bomb() -> str:
    """About 60 KB of text: one 50 KB string used 60 times in a list used 16 times: 48 MB expanded."""
    big = "x" * 50_000
    return (
        f'x-a: &a "{big}"\n'
        f"x-b: &b [{', '.join(['*a'] * 60)}]\n"
        "services:\n  web:\n    image: local/busybox:1\n"
        f"    command: [{', '.join(['*b'] * 16)}]\n"
    )


def test_a_small_body_cannot_expand_through_aliases_into_a_huge_answer(owner: User) -> None:
    text = alias_bomb()
    assert len(text) < 70_000
    status, content, seconds = validate(owner, {"compose": text})
    assert status == 400 and len(content) < BOUND and seconds < 5
    assert b"bytes through aliases" in content


def test_variables_cannot_expand_a_small_body_into_a_huge_answer(owner: User) -> None:
    text = 'services:\n  web:\n    image: local/busybox:1\n    command: ["' + "${A}" * 5_000 + '"]\n'
    status, content, seconds = validate(owner, {"compose": text, "variables": {"A": "y" * 4096}})
    assert status == 400 and len(content) < BOUND and seconds < 5
    assert b"grows past" in content


def test_port_ranges_and_extends_cannot_multiply_a_small_body(owner: User) -> None:
    ports = ", ".join(f'"10.0.0.{i}:1-20000:1-20000"' for i in range(1, 11))
    ranges = f"services:\n  web:\n    image: local/busybox:1\n    ports: [{ports}]\n"
    env = "".join(f"      K{i}: '{'v' * 100}'\n" for i in range(400))
    extends = "services:\n  base:\n    image: local/busybox:1\n    environment:\n" + env
    extends += "".join(f"  s{i}: {{extends: base}}\n" for i in range(200))
    for text in (ranges, extends):
        status, content, seconds = validate(owner, {"compose": text})
        assert status == 400 and len(content) < BOUND and seconds < 5, (status, len(content))
        assert b"grows past" in content


def test_validating_a_template_needs_the_template_permission(owner: User) -> None:
    reader = subaccount(owner, "reader", make_cluster(owner), "read-only")
    text = "services:\n  web:\n    image: local/busybox:1\n"
    status, content, _seconds = validate(reader, {"compose": text})
    assert status == 403, content
    status, content, _seconds = validate(reader, {"compose": alias_bomb()})
    assert status == 403 and len(content) < 1000
    writer = subaccount(
        owner, "writer", statements=[{"Effect": "Allow", "Action": "cs:CreateTemplate", "Resource": "*"}]
    )
    assert validate(writer, {"compose": text})[0] == 200
