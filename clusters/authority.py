"""Each cluster's certificate authority: made once, rotated on request, and what Berth shows its nodes.

A cluster's CA signs its engines' server certificates, the client certificate Berth presents to them, and the
short-lived certificates users download. Rotation (:func:`rotate`) makes a new CA and a new client certificate of
Berth; the old CA's fingerprint is kept (``Cluster.retired_ca_fingerprints``) so a node still on it is shown as
such until it is re-certified (``clusters.nodework.rotate`` for the local provider, the attach script's renew mode
for the others). Keys are sealed at rest and unsealed in memory only.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from clusters import pki
from clusters.models import Cluster


def seal(text: str) -> str:
    """``text`` encrypted at rest with BERTH_ENCRYPTION_KEY."""
    return pki.seal(text, secret=settings.BERTH_ENCRYPTION_KEY)


def unseal(token: str) -> str:
    """What :func:`seal` encrypted."""
    return pki.unseal(token, secret=settings.BERTH_ENCRYPTION_KEY)


def _material(cluster_id: int) -> dict[str, str]:
    """A new CA and Berth's client certificate from it, as the fields of a cluster row (keys sealed)."""
    ca = pki.new_ca(f"Berth cluster {cluster_id} CA")
    client = pki.issue_client(ca, common_name=f"berth-console-cluster-{cluster_id}")
    return {
        "ca_cert": ca.cert_pem,
        "ca_key_sealed": seal(ca.key_pem),
        "client_cert": client.cert_pem,
        "client_key_sealed": seal(client.key_pem),
    }


def ensure_ca(cluster: Cluster) -> None:
    """Give the cluster its own CA and Berth's client certificate for its nodes (once)."""
    if cluster.ca_cert:
        return
    Cluster.objects.filter(pk=cluster.pk, ca_cert="").update(**_material(cluster.pk))
    cluster.refresh_from_db()


def cluster_ca(cluster: Cluster) -> pki.KeyPair:
    """The cluster's CA certificate and key (the key in memory only)."""
    ensure_ca(cluster)
    return pki.KeyPair(cluster.ca_cert, unseal(cluster.ca_key_sealed))


def berth_client(cluster: Cluster) -> tuple[str, str, str]:
    """(CA, certificate, key) Berth shows the cluster's nodes on its current CA."""
    ensure_ca(cluster)
    return cluster.ca_cert, cluster.client_cert, unseal(cluster.client_key_sealed)


def rotate(cluster: Cluster) -> tuple[str, str]:
    """Replace the cluster's CA and Berth's client certificate (call inside the caller's transaction, with the row
    locked); returns the (old, new) CA fingerprints. Nodes keep their own material until they are re-certified."""
    ensure_ca(cluster)
    old = pki.fingerprint(cluster.ca_cert)
    fields = _material(cluster.pk)
    retired = [*(cluster.retired_ca_fingerprints or []), old][-20:]
    Cluster.objects.filter(pk=cluster.pk).update(
        **fields, retired_ca_fingerprints=retired, ca_rotated_at=timezone.now()
    )
    cluster.refresh_from_db()
    return old, pki.fingerprint(cluster.ca_cert)
