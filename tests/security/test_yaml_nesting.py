"""A small text cannot crash the loader (review F8): ``${X:-${X:-…}}`` nested 1500 deep in a 9 KB body was a 500
(RecursionError) on a dry-run deploy and on validate. Nesting is capped with an error naming the path, and any
RecursionError of the loader is a validation error."""

from __future__ import annotations

import pytest

from accounts.models import User
from apps import compose
from apps.compose import loader
from apps.compose.interpolate import MAX_NESTING
from tests.security.app_world import client_for, deploy_url, make_cluster

pytestmark = pytest.mark.django_db


def nested_text(depth: int) -> str:
    command = "${X:-" * depth + "a" + "}" * depth
    return f'services:\n  web:\n    image: local/busybox:1\n    command: "{command}"\n'


def test_nested_interpolation_defaults_on_validate_are_a_validation_error_naming_the_path(owner: User) -> None:
    text = nested_text(1500)
    assert len(text) < 10_000
    response = client_for(owner).post("/api/v1/templates/validate", {"compose": text}, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert any(e.startswith("services.web.command:") and "nested more than" in e for e in errors), errors


def test_nested_interpolation_defaults_on_a_dry_run_deploy_are_a_validation_error(owner: User) -> None:
    cluster = make_cluster(owner)
    body = {"name": "deep", "compose": nested_text(1500)}
    response = client_for(owner).post(f"{deploy_url(cluster)}?dry_run=true", body, format="json")
    assert response.status_code == 400, response.content
    assert "services.web.command" in response.content.decode() and "nested more than" in response.content.decode()


def test_nesting_within_the_cap_still_interpolates() -> None:
    model = compose.load(nested_text(MAX_NESTING), env={})
    assert model["services"]["web"]["command"] == ["a"]
    assert compose.load(nested_text(3), env={"X": "set"})["services"]["web"]["command"] == ["set"]


def test_any_recursion_error_of_the_loader_is_a_compose_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def exhausted(*_args: object, **_kwargs: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(loader, "finish", exhausted)
    with pytest.raises(compose.ComposeError) as caught:
        compose.load("services:\n  web:\n    image: local/busybox:1\n")
    assert "nests too deeply" in str(caught.value)
    monkeypatch.setattr(loader, "collect_variables", exhausted)
    with pytest.raises(compose.ComposeError):
        compose.variables("services:\n  web:\n    image: local/busybox:1\n")
