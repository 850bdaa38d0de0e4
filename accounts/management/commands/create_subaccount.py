"""``manage.py create_subaccount --tenant A --name U --password-stdin``."""

from __future__ import annotations

import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from accounts.operations import create_subaccount
from console import context


class Command(BaseCommand):
    help = "Create a sub-account (RAM user) in a tenant; the password is read from standard input."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant alias")
        parser.add_argument("--name", required=True)
        parser.add_argument("--display-name", default="")
        parser.add_argument("--password-stdin", action="store_true", required=True)

    def handle(self, *args: Any, **opts: Any) -> None:
        context.begin(src="system")
        owner = User.objects.filter(tenant__alias=opts["tenant"], is_primary=True).select_related("tenant").first()
        if owner is None:
            raise CommandError(f"no tenant {opts['tenant']}")
        password = sys.stdin.readline().rstrip("\n")
        try:
            user = create_subaccount(owner, name=opts["name"], password=password, display_name=opts["display_name"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"created {user.login}")
