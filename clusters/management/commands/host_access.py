"""``manage.py host_access``: the operator lets a tenant use the machine Berth runs on, or takes it back.

Using this machine's engine (a ``unix://`` socket, or its engine reached any other way) or the ``local``
provider gives a tenant's containers this machine: only the operator decides it. The first tenant gets it
with its "local" cluster. Taking it back stops the tenant's containers on this machine and the engines the local
provider started for it; giving it back starts those engines again.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Tenant
from clusters import hostaccess
from clusters.models import HostGrant
from console import context


class Command(BaseCommand):
    help = "Grant (or with --revoke take back) a tenant's use of this machine's engine and the local provider."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="the tenant's alias")
        parser.add_argument("--revoke", action="store_true", help="take the grant back")
        parser.add_argument("--note", default="", help="why (kept with the grant)")
        parser.add_argument("--list", action="store_true", help="list the tenants that have the grant")

    def handle(self, *args: Any, **opts: Any) -> None:
        context.begin(src="system")
        if opts["list"]:
            for grant in HostGrant.objects.select_related("tenant"):
                self.stdout.write(f"{grant.tenant.alias}\t{grant.granted_at:%Y-%m-%d %H:%M}\t{grant.note}")
            return
        if not opts["tenant"]:
            raise CommandError("give --tenant ALIAS (or --list)")
        tenant = Tenant.objects.filter(alias=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant with alias {opts['tenant']!r}")
        if opts["revoke"]:
            nodes = hostaccess.revoke(tenant)
            self.stdout.write(
                f"{tenant.alias}: no longer uses this machine ({nodes} node(s) made unreachable, "
                "its containers on this machine stopped)"
            )
        else:
            hostaccess.grant(tenant, note=opts["note"])
            started = hostaccess.restore(tenant)
            self.stdout.write(f"{tenant.alias}: may use this machine's engine and the local provider")
            if started:
                self.stdout.write(f"started again: {', '.join(started)}")
