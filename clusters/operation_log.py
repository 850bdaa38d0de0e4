"""What a sub-account may read of the operation log (``console.models.OperationLog``, the ground every layer writes
to): the log knows no clusters and no permission core, so this layer hands it the rule when Django starts
(``clusters.apps``)."""

from __future__ import annotations

from typing import Any

from django.db import models

from accounts.decisions import Resource, ResourceColumns, decide, permitted, resource_text
from clusters.models import Cluster


def sub_account_entries(entries: models.QuerySet, user: Any, action: str) -> models.QuerySet:
    """The entries of the user's tenant (``entries``) that a sub-account may ``action``: those about a cluster whose
    log it may read (``acs:cs:…:cluster/<id>/operationlog``, which a role on the cluster gives), and when it may
    read the tenant's whole log (``acs:cs:*:<tenant>:operationlog``), every other entry too."""
    log_name = f"acs:cs:*:{user.tenant_id}:operationlog"
    clusters = Cluster.objects.filter(tenant_id=user.tenant_id)
    cluster = clusters.resource_columns().name
    logs = ResourceColumns(resource_text(cluster, "/operationlog"), (cluster,), "pk")
    visible = models.Q(cluster_id__in=permitted(clusters, user, action, logs).values("pk"))
    if decide(user, action, Resource(log_name)).allowed:
        visible |= models.Q(cluster_id__isnull=True) | ~models.Q(cluster_id__in=clusters.values("pk"))
    return entries.filter(visible)
