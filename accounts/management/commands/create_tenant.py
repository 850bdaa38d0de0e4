"""``manage.py create_tenant --name N --alias A --admin U --password-stdin``."""

from __future__ import annotations

import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.operations import create_tenant
from console import context


class Command(BaseCommand):
    help = "Create a tenant and its primary account (the password is read from standard input)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--alias", required=True)
        parser.add_argument("--admin", required=True)
        parser.add_argument("--password-stdin", action="store_true", required=True)

    def handle(self, *args: Any, **opts: Any) -> None:
        context.begin(src="system")
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise CommandError("no password on standard input")
        try:
            user = create_tenant(name=opts["name"], alias=opts["alias"], admin=opts["admin"], password=password)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"created tenant {user.tenant.alias} (id {user.tenant_id}); sign in as {user.login}")
