"""``manage.py bootstrap_local``: the first tenant's cluster "local" is this machine's engine (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.models import Tenant
from clusters.operations import ensure_local_cluster
from console import context


class Command(BaseCommand):
    help = 'Register the local Docker engine as the first tenant\'s cluster "local" (no-op before setup).'

    def handle(self, *args: Any, **opts: Any) -> None:
        context.begin(src="system")
        tenant = Tenant.objects.order_by("id").first()
        if tenant is None:
            self.stdout.write("no tenant yet: open the console to set up the first one")
            return
        cluster = ensure_local_cluster(tenant)
        node = cluster.nodes.first()
        self.stdout.write(f'cluster "{cluster.name}" of {tenant.alias}: node {node.name} is {node.state}')
