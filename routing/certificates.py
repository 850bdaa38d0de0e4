"""The tenant's certificate store: web certificates (a PEM chain and its key) that the routers of the tenant's
clusters serve by SNI on port 443 for https routes (``routing.tls``).

An upload is checked before anything is stored (``clusters.pki.check_served``: the key is the certificate's, the
chain is in order, the certificate is valid now and names DNS names); chain and key are sealed at rest and the key is
never shown again, not even to its owner, nor written to the operation log.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.permissions import authorize, authorize_tenant
from clusters import pki
from clusters.models import Cluster
from console import audit
from routing import sync
from routing.models import Certificate, certificate_resource

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")


def _clean_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name.strip()):
        raise ValidationError(
            {"name": [_("1 to 63 lower-case letters, digits, '.', '_' and '-', starting and ending with one.")]}
        )
    return name.strip()


def upload(actor: Any, *, name: str, certificate: str, key: str) -> Certificate:
    """Store a certificate of the actor's tenant; refused, with the reason, when chain and key do not fit, when it
    has expired, or when the name is taken. Routers of the tenant's clusters with https on get it at once."""
    name = _clean_name(name)
    resource = certificate_resource(actor.tenant_id, name)
    authorize_tenant(actor, "cs:UploadCertificate", resource, target=name)
    try:
        served = pki.check_served(certificate, key)
    except pki.CertificateProblem as exc:  # a problem of the key says so first; any other is the chain's
        field = "key" if str(exc).startswith("the private key") else "certificate"
        raise ValidationError({field: [str(exc)]}) from exc
    if Certificate.objects.filter(tenant_id=actor.tenant_id, name=name).exists():
        raise ValidationError({"name": [_("There is already a certificate of this name; delete it first.")]})
    secret = settings.BERTH_ENCRYPTION_KEY
    try:
        with transaction.atomic():
            authorize_tenant(actor, "cs:UploadCertificate", resource, target=name)
            made = Certificate.objects.create(
                tenant_id=actor.tenant_id,
                name=name,
                subject=served.subject[:500],
                issuer=served.issuer[:500],
                names=list(served.names),
                not_before=served.not_before,
                not_after=served.not_after,
                fingerprint=served.fingerprint,
                chain_sealed=pki.seal(served.chain_pem, secret=secret),
                key_sealed=pki.seal(served.key_pem, secret=secret),
                created_by=actor,
            )
            audit.record(
                "cs:UploadCertificate",
                actor=actor,
                resource=made.resource_name,
                target=name,
                parameters={"names": list(served.names), "not_after": served.not_after.isoformat()},
            )
            _resync(actor.tenant_id)
    except IntegrityError as exc:
        raise ValidationError({"name": [_("There is already a certificate of this name; delete it first.")]}) from exc
    return made


def delete(actor: Any, certificate: Certificate) -> None:
    """Forget a certificate; the routers stop serving it (https routes it covered answer with another or none)."""
    authorize(actor, "cs:DeleteCertificate", certificate)
    with transaction.atomic():
        authorize(actor, "cs:DeleteCertificate", certificate)
        resource, name, tenant_id = certificate.resource_name, certificate.name, certificate.tenant_id
        certificate.delete()
        audit.record("cs:DeleteCertificate", actor=actor, resource=resource, target=name)
        _resync(tenant_id)


def _resync(tenant_id: int) -> None:
    for cluster in Cluster.objects.filter(tenant_id=tenant_id, system_services__routing=True):
        sync.schedule(cluster.pk)
