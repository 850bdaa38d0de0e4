"""``manage.py bootstrap_local``: the first tenant's cluster "local" is this machine's engine (idempotent).

It never gives the machine back to a tenant the operator took it from (``manage.py host_access --revoke``), and,
like setup, never to a second tenant: the automatic grant goes to one tenant at most.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.models import Tenant
from clusters import hostaccess
from clusters.models import Cluster
from clusters.operations import LOCAL_CLUSTER, ensure_local_cluster
from console import context


class Command(BaseCommand):
    help = 'Register the local Docker engine as the first tenant\'s cluster "local" (no-op before setup).'

    def handle(self, *args: Any, **opts: Any) -> None:
        context.begin(src="system")
        tenant = Tenant.objects.order_by("id").first()
        if tenant is None:
            self.stdout.write("no tenant yet: open the console to set up the first one")
            return
        if not hostaccess.has_grant(tenant.pk) and Cluster.objects.filter(tenant=tenant, name=LOCAL_CLUSTER).exists():
            self.stdout.write(f"{tenant.alias} may not use this machine (manage.py host_access gives it back)")
            return
        cluster = ensure_local_cluster(tenant, automatic=True)
        if cluster is None:
            self.stdout.write("this machine's engine belongs to another tenant's cluster: nothing to do")
            return
        node = cluster.nodes.exclude(state="removed").first()
        self.stdout.write(
            f'cluster "{cluster.name}" of {tenant.alias}: node {node.name if node else "-"} is '
            f"{node.state if node else 'missing'}"
        )
