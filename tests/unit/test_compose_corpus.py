"""The Compose corpus: every file loads, and gives the stored output of ``docker compose config --format json``.

A case is ``NAME.yml``, plus ``NAME.override.yml`` when it exists (loaded after it, like ``-f a -f b``),
loaded once per environment listed in ``NAME.env.json`` (a JSON list of mappings; one empty environment
when absent). Its expected model is ``expected/NAME.json`` (``expected/NAME.N.json`` for the N-th
environment), written from the reference by test_compose_differential (see its docstring).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from apps.compose import load

CORPUS = Path(__file__).resolve().parents[1] / "compose_corpus"
PROJECT = "corpus"


@dataclass(frozen=True)
class Case:
    """One corpus case: its files (in -f order), its environment, and where its expected model is stored."""

    name: str
    files: tuple[Path, ...]
    env: dict[str, str]
    expected: Path

    def texts(self) -> list[bytes]:
        """The files' contents, as load() takes them."""
        return [path.read_bytes() for path in self.files]


def corpus_cases() -> list[Case]:
    """Every case of the corpus, in name order."""
    cases = []
    for path in sorted(CORPUS.glob("*.yml")):
        if path.name.endswith(".override.yml"):
            continue
        stem = path.name.removesuffix(".yml")
        override = CORPUS / f"{stem}.override.yml"
        files = (path, override) if override.exists() else (path,)
        env_file = CORPUS / f"{stem}.env.json"
        envs = json.loads(env_file.read_text()) if env_file.exists() else [{}]
        for index, env in enumerate(envs):
            suffix = f".{index}" if len(envs) > 1 else ""
            cases.append(Case(f"{stem}{suffix}", files, env, CORPUS / "expected" / f"{stem}{suffix}.json"))
    return cases


CASES = corpus_cases()


def test_corpus_is_large_enough() -> None:
    assert len(list(CORPUS.glob("*.yml"))) >= 30


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_corpus_file_loads_to_the_stored_reference_output(case: Case) -> None:
    model = load(case.texts(), env=case.env, project=PROJECT, strict_variables=False)
    assert json.loads(json.dumps(model)) == json.loads(case.expected.read_text())
