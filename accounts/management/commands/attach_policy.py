"""``manage.py attach_policy --tenant A (--user U | --group G) --policy NAME``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404

from accounts import operations as ops
from accounts.models import RamGroup, User
from console import context


class Command(BaseCommand):
    help = "Attach a system or custom policy to a sub-account or a group."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant alias")
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--user")
        who.add_argument("--group")
        parser.add_argument("--policy", required=True)

    def handle(self, *args: Any, **opts: Any) -> None:
        context.begin(src="system")
        owner = User.objects.filter(tenant__alias=opts["tenant"], is_primary=True).select_related("tenant").first()
        if owner is None:
            raise CommandError(f"no tenant {opts['tenant']}")
        try:
            pol = ops.find_policy(owner, opts["policy"])
        except Http404 as exc:
            raise CommandError(f"no policy {opts['policy']}") from exc
        try:
            if opts["user"]:
                user = User.objects.filter(tenant=owner.tenant, name=opts["user"]).first()
                if user is None:
                    raise CommandError(f"no user {opts['user']} in {opts['tenant']}")
                ops.attach_policy(owner, pol, user=user)
            else:
                group = RamGroup.objects.filter(tenant=owner.tenant, name=opts["group"]).first()
                if group is None:
                    raise CommandError(f"no group {opts['group']} in {opts['tenant']}")
                ops.attach_policy(owner, pol, group=group)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"attached {pol.name}")
