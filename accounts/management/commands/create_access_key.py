"""``manage.py create_access_key --tenant A --user U``: prints ``id:secret`` once."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from accounts.operations import create_access_key
from console import context


class Command(BaseCommand):
    help = "Issue an access key for a user and print it as AccessKeyId:AccessKeySecret (shown only now)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant alias")
        parser.add_argument("--user", required=True, help="user name in the tenant")

    def handle(self, *args: Any, **opts: Any) -> None:
        context.begin(src="system")
        user = User.objects.filter(tenant__alias=opts["tenant"], name=opts["user"]).select_related("tenant").first()
        if user is None:
            raise CommandError(f"no user {opts['user']} in tenant {opts['tenant']}")
        owner = User.objects.get(tenant=user.tenant, is_primary=True)  # scripts act as the tenant's owner
        try:
            key, secret = create_access_key(owner, user)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"{key.key_id}:{secret}")
