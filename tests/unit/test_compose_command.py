"""``manage.py compose_config``: a thin wrapper that prints load()'s model (and its warnings) or the problems."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.compose import load
from tests.unit.test_compose_corpus import CORPUS


def run(*args: str) -> tuple[str, str]:
    """Run the command; (stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command("compose_config", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_prints_the_model_of_several_files_with_env() -> None:
    base, override = CORPUS / "override_pair.yml", CORPUS / "override_pair.override.yml"
    out, _ = run("-f", str(base), "-f", str(override), "-p", "shop")
    assert json.loads(out) == load([base.read_bytes(), override.read_bytes()], project="shop")
    assert out.strip() == json.dumps(json.loads(out), indent=2)


def test_env_values_are_the_only_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compose = tmp_path / "compose.yml"
    compose.write_text("services:\n  web:\n    image: nginx\n    environment: ['TAG=${TAG}', HOME_DIR=$HOME]\n")
    monkeypatch.setenv("TAG", "from-the-console")
    with pytest.raises(CommandError, match=r"^2 problem\(s\) in the Compose file\(s\)$"):
        run("-f", str(compose), "--strict")
    out, err = run("-f", str(compose), "--env", "TAG=1.25", "--env", "HOME=/h")
    assert json.loads(out)["services"]["web"]["environment"] == {"TAG": "1.25", "HOME_DIR": "/h"}
    assert err == ""
    out, _ = run("-f", str(compose), "--no-strict")  # the default now; still accepted
    assert json.loads(out)["services"]["web"]["environment"] == {"TAG": "", "HOME_DIR": ""}


def test_unset_variables_and_unknown_labels_are_warnings_on_stderr(tmp_path: Path) -> None:
    """As Compose does: an unset variable reads as empty, with a warning; the model is still printed."""
    out, err = run("-f", str(CORPUS / "awesome_web_postgres.yml"))
    assert json.loads(out)["services"]["db"]["environment"]["POSTGRES_USER"] == ""
    assert err.splitlines() == [
        "warning: services.web.environment.TZ: variable TIMEZONE is not set and has no default: it reads as an "
        "empty string",
        "warning: services.web.environment.DATABASE_URL: variable POSTGRES_USER is not set and has no default: "
        "it reads as an empty string",
        "warning: services.web.environment.DATABASE_URL: variable POSTGRES_PASSWORD is not set and has no default: "
        "it reads as an empty string",
    ]
    compose = tmp_path / "compose.yml"
    compose.write_text("services:\n  web:\n    image: x\n    labels: {aliyun.log_store_app: stdout}\n")
    out, err = run("-f", str(compose))
    assert json.loads(out)["services"]["web"]["labels"] == {"aliyun.log_store_app": "stdout"}
    assert err == (
        "warning: services.web.labels: unknown Alibaba label aliyun.log_store_app: it stays on the containers, "
        "but Berth does nothing with it\n"
    )


def test_problems_go_to_stderr(tmp_path: Path) -> None:
    compose = tmp_path / "compose.yml"
    compose.write_text("services:\n  web:\n    build: .\n    ports: ['0:80']\n")
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError):
        call_command("compose_config", "-f", str(compose), stdout=out, stderr=err)
    assert out.getvalue() == ""
    assert err.getvalue().splitlines() == [
        'services.web.build: "build" is not supported by Berth: Berth deploys images from a registry and never '
        "builds them; push the image and set image",
        "services.web.ports[0]: published port 0 is out of range (1-65535)",
        'services.web.image: service "web" has no image; every service needs one (Berth never builds)',
    ]


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="--env takes KEY=VALUE"):
        run("-f", str(CORPUS / "sample_web_db.yml"), "--env", "NOVALUE")
    with pytest.raises(CommandError, match="cannot read"):
        run("-f", str(tmp_path / "missing.yml"))
