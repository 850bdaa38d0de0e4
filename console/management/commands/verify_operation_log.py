"""``manage.py verify_operation_log [--tenant A]``: check every tenant's chain; name the first broken link."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Tenant
from console.audit import verify_chain


class Command(BaseCommand):
    help = "Verify the hash chain of the operation log; exits 1 at the first broken link."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="tenant alias (default: every tenant and the system chain)")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts.get("tenant"):
            tenant = Tenant.objects.filter(alias=opts["tenant"]).first()
            if tenant is None:
                raise CommandError(f"no tenant {opts['tenant']}")
            chains = [tenant]
        else:
            chains = [None, *Tenant.objects.order_by("id")]
        for tenant in chains:
            broken = verify_chain(tenant)
            label = tenant.alias if tenant else "system"
            if broken is not None:
                raise CommandError(
                    f"{label}: chain broken at entry id {broken.pk} (seq {broken.seq}, "
                    f"{broken.created_at:%Y-%m-%d %H:%M:%S}, {broken.action})"
                )
            self.stdout.write(f"{label}: intact")
