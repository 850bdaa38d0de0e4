"""Rotation of a cluster's CA: the remedy for client certificates that must stop opening the cluster's engines.

Docker engines check a client certificate against the CA they were started with, and nothing else (no revocation
list). So the only way to make every certificate a CA issued stop working (including long-lived ones issued before
certificates were recorded) is to give the engines a new CA:

1. :func:`rotate_ca` (``cs:RotateClusterCertificates``: the primary account and cluster admins) makes a new CA and a
   new client certificate of Berth at once, records every live user certificate of the old CA as revoked, voids
   unused attach commands, and starts a ``rotate`` node task.
2. The task (``clusters.nodework.rotate``) re-certifies the nodes Berth started itself (the ``local`` provider):
   a server certificate of the new CA, the engine restarted with it (its containers come back by their restart
   policy, ``unless-stopped``), Berth's new material checked against the engine and stored on the node.
3. Nodes Berth did not start (attach script, registration by endpoint) keep the old CA and Berth's old client
   certificate (stored per node) until someone runs the node's renew command (``clusters.attach.renew_command``):
   it fetches a server certificate of the new CA, restarts dockerd, and Berth adopts the new material after
   checking that the same engine (engine ID) answers with it. The cluster page shows which nodes are still on
   the old CA.

From then on a rotated engine refuses every certificate of the old CA. Certificates issued after the rotation are
short-lived (BERTH_USER_CERT_HOURS) and recorded; revoking one still leaves it working until it expires.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.permissions import authorize
from clusters import authority, certificates
from clusters import docker_host as host
from clusters.models import AttachToken, Cluster, Node, NodeTask
from clusters.operations import _start_task
from console import audit, live
from console.errors import OperationConflict

log = logging.getLogger(__name__)
ROTATE = "cs:RotateClusterCertificates"
RENEWED = "cs:RenewNodeCertificates"


def rotate_ca(actor: Any, cluster: Cluster) -> NodeTask:
    """Give the cluster a new CA and re-certify its nodes (a node task); see the module note."""
    authorize(actor, ROTATE, cluster)
    if NodeTask.objects.filter(cluster=cluster, status__in=NodeTask.ACTIVE).exists():
        raise OperationConflict(_("A node operation of this cluster is still in progress; rotate when it is done."))
    authority.ensure_ca(cluster)
    with transaction.atomic():
        authorize(actor, ROTATE, cluster)
        Cluster.objects.select_for_update().filter(pk=cluster.pk).first()
        old, new = authority.rotate(cluster)
        voided = AttachToken.objects.filter(cluster=cluster, used_at__isnull=True).update(used_at=timezone.now())
        task = _start_task(actor, cluster, None, NodeTask.Kind.ROTATE, {"from": old, "to": new})
        audit.record(
            ROTATE,
            actor=actor,
            resource=cluster.resource_name,
            target=cluster.name,
            cluster_id=cluster.pk,
            parameters={"task": task.pk, "old_ca": old, "new_ca": new, "attach_commands_voided": voided},
            outcome=audit.OperationLog.Outcome.ACCEPTED,
        )
    revoked = certificates.revoke_certificates_of_cluster(
        cluster, _("the cluster's CA was rotated: rotated engines refuse it")
    )
    log.info(
        "cluster %s: CA rotated (%s → %s), %s user certificate(s) recorded as revoked", cluster.pk, old, new, revoked
    )
    return task


def adopt_current(node: Node, *, actor: Any = None, via: str, source: str | None = None) -> None:
    """Store the cluster's current client material on ``node`` once its engine answers with it (the same engine:
    its engine ID), after a re-certification; HostError when it does not. ``via`` says who re-certified it."""
    host.admit(node)
    cluster = node.cluster
    ca, cert, key = authority.berth_client(cluster)
    endpoint = host.Endpoint(
        url=node.endpoint,
        timeout=10.0,
        tls=host.Tls(ca_pem=ca, cert_pem=cert, key_pem=key),
        node_id=node.pk,
        engine_id=node.engine_id,
    )
    try:
        host.ping(endpoint)
    finally:
        host.forget(endpoint)
    with transaction.atomic():
        Node.objects.filter(pk=node.pk).update(tls_ca=ca, tls_cert=cert, tls_key_sealed=authority.seal(key))
        node.tls_ca, node.tls_cert = ca, cert
        audit.record(
            RENEWED,
            actor=actor,
            tenant=cluster.tenant,
            resource=node.resource_name,
            target=node.name,
            cluster_id=cluster.pk,
            parameters={"via": via},
            source=source,
        )
        transaction.on_commit(lambda: live.publish("cluster", node.cluster_id, node.as_live()))
