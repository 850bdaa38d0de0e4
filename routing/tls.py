"""Which of the tenant's certificates a cluster's routers serve, and as what files (read only; uploads and deletes
are ``routing.certificates``).

A router gets the tenant's valid certificates as files of its own (``files_for``), in a directory named by their
fingerprints, so a new or deleted certificate is a new directory and a seamless reload. HAProxy picks one by SNI;
the first (by name) answers a name none covers.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from clusters import pki
from clusters.models import Cluster
from routing.models import Certificate, Route

MAX_PEM = pki.MAX_SERVED_PEM
EXPIRY_WARNING = timedelta(days=30)
"""A certificate that ends within this time is shown with a warning."""


def covers(names: list[str] | tuple[str, ...], domain: str) -> bool:
    """Whether a certificate for ``names`` is valid for ``domain``: an exact name, or a wildcard ``*.example.com``
    for exactly one more label (``www.example.com``, not ``example.com`` nor ``a.b.example.com``)."""
    domain = domain.lower()
    for name in names:
        name = name.lower()
        if name == domain:
            return True
        if name.startswith("*.") and "." in domain and domain.split(".", 1)[1] == name[2:]:
            return True
    return False


def covers_any(rows: list[Certificate], domain: str) -> bool:
    """Whether one of the certificates is valid for ``domain``."""
    return any(covers(row.names, domain) for row in rows)


def expiring(certificate: Certificate, now: datetime | None = None) -> bool:
    """Whether the certificate ends within ``EXPIRY_WARNING`` (or has ended)."""
    return certificate.not_after <= (now or timezone.now()) + EXPIRY_WARNING


def served_by(cluster: Cluster) -> list[Certificate]:
    """The tenant's certificates the cluster's routers serve: those valid now."""
    now = timezone.now()
    return list(Certificate.objects.filter(tenant_id=cluster.tenant_id, not_before__lte=now, not_after__gt=now))


def files_for(rows: list[Certificate]) -> tuple[str, dict[str, bytes]]:
    """The certificates as a router's files: one PEM (chain, then key) per certificate, named so that HAProxy's
    default (the first) is stable, in a directory named by a hash of their names and contents (any change to the
    set, a chain re-uploaded included, is a new directory)."""
    if not rows:
        return "", {}
    rows = sorted(rows, key=lambda row: (row.name, row.pk))
    secret = settings.BERTH_ENCRYPTION_KEY
    named = {}
    for index, row in enumerate(rows):
        chain, key = pki.unseal(row.chain_sealed, secret=secret), pki.unseal(row.key_sealed, secret=secret)
        named[f"{index:03d}-{row.pk}.pem"] = (chain + key).encode("ascii")
    digest = hashlib.sha256()
    for name, content in sorted(named.items()):
        digest.update(name.encode() + b"\0" + content + b"\0")
    version = digest.hexdigest()[:16]
    return version, {f"{version}/{name}": content for name, content in named.items()}


def uncovered(cluster: Cluster, routes: list[Route], rows: list[Certificate] | None = None) -> dict[int, str]:
    """Why an https route of the cluster gets no certificate of its own (route id → reason)."""
    rows = served_by(cluster) if rows is None else rows
    found = {}
    for route in routes:
        if route.https and not any(covers(row.names, route.domain) for row in rows):
            found[route.pk] = _("no valid certificate of this account names %(domain)s") % {"domain": route.domain}
    return found
