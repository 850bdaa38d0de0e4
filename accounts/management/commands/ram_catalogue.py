"""``manage.py ram_catalogue``: print docs/ram.md (the action catalogue) from the code."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.catalogue import markdown


class Command(BaseCommand):
    help = "Print the RAM action catalogue as Markdown (docs/ram.md)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(markdown(), ending="")
