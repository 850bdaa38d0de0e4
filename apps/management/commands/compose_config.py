"""``manage.py compose_config``: print the canonical model of Compose files, like ``docker compose config``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.compose import MAX_BYTES, ComposeError, load_with_warnings


def parse_assignment(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` of an ``--env`` option."""
    key, found, value = text.partition("=")
    if not found or not key:
        raise CommandError(f"--env takes KEY=VALUE, not {text!r}")
    return key, value


class Command(BaseCommand):
    """Print load()'s model of the given files as JSON and each warning on stderr, or each problem on stderr
    (exit status 1)."""

    help = (
        "Load Compose files as Berth does and print the canonical model as JSON (docker compose config --format "
        "json); warnings (a variable read as empty, an unknown Alibaba label) go to stderr. Variables come only "
        "from --env, never from this process's environment."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "-f", "--file", dest="files", action="append", required=True, help="Compose file (repeatable)"
        )
        parser.add_argument(
            "--env", action="append", default=[], metavar="KEY=VALUE", help="variable for interpolation"
        )
        parser.add_argument(
            "-p", "--project-name", dest="project", default="default", help="project (application) name"
        )
        parser.add_argument(
            "--strict", action="store_true", help="refuse a variable without value or default (Compose reads it empty)"
        )
        parser.add_argument("--no-strict", action="store_true", help=argparse.SUPPRESS)  # the default now

    def handle(self, *args: Any, **options: Any) -> None:
        """Read the files, load them with only the --env variables, print the model."""
        env = dict(parse_assignment(item) for item in options["env"])
        texts = []
        for name in options["files"]:
            try:
                with Path(name).open("rb") as handle:
                    texts.append(handle.read(MAX_BYTES + 1))  # load() refuses anything longer
            except OSError as error:
                raise CommandError(f"cannot read {name}: {error.strerror}") from error
        try:
            loaded = load_with_warnings(texts, env=env, project=options["project"], strict_variables=options["strict"])
        except ComposeError as error:
            for problem in error.errors:
                self.stderr.write(str(problem))
            raise CommandError(f"{len(error.errors)} problem(s) in the Compose file(s)") from error
        for warning in loaded.warnings:
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(json.dumps(loaded.model, indent=2))
