"""Client certificates users download to reach a cluster's engines: issued short-lived, recorded by serial, revocable.

A certificate signed by the cluster's CA is full Docker access to every TLS node of the cluster, past every
security policy of Berth: issuing one is its own action (``cs:IssueClusterCertificate``, outside
``Describe*``/``Get*``/``List*``), which the primary account and cluster admins have, and the read-only,
developer and operator roles do not.

What revocation means here (be precise): Docker engines started with ``--tlsverify`` check a client certificate
against the CA only; they have no revocation list and no OCSP, so Berth cannot make an engine refuse a
certificate it issued. Revoking records who revoked which serial and why, shows the certificate as revoked, and
the holder cannot get it back; the certificate itself keeps opening the engines until it expires, which
BERTH_USER_CERT_HOURS (default 8 hours, at most 24) keeps short. A certificate whose holder may no longer issue
certificates for the cluster (user deleted or disabled, role or policy gone) counts as revoked at once
(:func:`status`), and :func:`sweep` (a periodic task) records it. Whether the holder still may issue is judged
apart from any request (:func:`holder_may_issue`): conditions that depend on a request (source address, MFA,
HTTPS) are left out, so neither the beat (no request) nor the viewer's own address decides it.

Certificates issued before they were recorded (valid for years) end with a rotation of the cluster's CA
(``clusters.rotation``): rotated engines refuse every certificate of the old CA. Docker authorization plugins
receive each request's client certificate and could enforce revocation on the nodes; Berth does not install one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import policy as ram_policy
from accounts.decisions import Principal, Resource, load_principals
from accounts.permissions import authorize
from accounts.roles import ROLES
from clusters import pki
from clusters.authority import cluster_ca
from clusters.models import Cluster, Node, UserCertificate, cluster_resource
from console import audit

ISSUE = "cs:IssueClusterCertificate"
REVOKE = "cs:RevokeClusterCertificate"
HOLDER_GONE = "the holder may no longer issue certificates for this cluster"
# Condition keys that only a request has: a standing judgement (no request) leaves them out.
REQUEST_BOUND = frozenset({"acs:sourceip", "acs:mfapresent", "acs:securetransport"})


def issue(actor: Any, cluster: Cluster) -> tuple[UserCertificate, bytes]:
    """Issue ``actor`` a client certificate for the cluster's engines; return its record and the bundle (zip)."""
    authorize(actor, ISSUE, cluster)
    ca = cluster_ca(cluster)
    hours = settings.BERTH_USER_CERT_HOURS
    pair = pki.issue_client(ca, common_name=f"{actor.login} cluster {cluster.pk}", hours=hours)
    facts = pki.describe(pair.cert_pem)
    first = cluster.nodes.exclude(state=Node.State.REMOVED).filter(endpoint__endswith=":2376").first()
    blob = pki.bundle_zip(
        ca_pem=ca.cert_pem,
        cert_pem=pair.cert_pem,
        key_pem=pair.key_pem,
        endpoint_hint=first.endpoint if first else "",
    )
    with transaction.atomic():
        authorize(actor, ISSUE, cluster)
        record = UserCertificate.objects.create(
            cluster=cluster,
            user=actor,
            user_login=actor.login,
            serial=facts["serial"],
            fingerprint=facts["fingerprint"],
            not_after=datetime.fromisoformat(facts["not_after"]),
        )
        audit.record(
            ISSUE,
            actor=actor,
            resource=cluster.resource_name,
            target=cluster.name,
            cluster_id=cluster.pk,
            parameters={"serial": record.serial, "fingerprint": record.fingerprint, "not_after": facts["not_after"]},
        )
    return record, blob


def _standing(statement: ram_policy.Statement) -> ram_policy.Statement | None:
    """The statement as it stands apart from any request: an Allow without its request-bound conditions (they
    could hold); None for a Deny with such conditions (it applies to some requests only)."""
    bound = [c for c in statement.conditions if c.key.lower() in REQUEST_BOUND]
    if bound and statement.effect == "Deny":
        return None
    return dataclasses.replace(statement, conditions=tuple(c for c in statement.conditions if c not in bound))


def may_still_issue(user: Any, principal: Principal, cluster: Cluster) -> bool:
    """Whether ``user`` (with its ``principal``) could still issue certificates for ``cluster``, judged without a
    request: active, in the cluster's tenant, and the primary account, or an Allow (request-bound conditions left
    out) or a role grant that covers it, with no Deny that holds whatever the request."""
    if user is None or not user.is_active or user.tenant_id != cluster.tenant_id:
        return False
    if user.is_primary:
        return True
    resource = Resource(cluster_resource(cluster.region, cluster.tenant_id, cluster.pk), cluster_id=cluster.pk)
    context = {"acs:CurrentTime": timezone.now(), "acs:CurrentUser": user.name}
    allowed = False
    for attached in principal.policies:
        for statement in attached.document.statements:
            standing = _standing(statement)
            if standing is None or not ram_policy.statement_applies(standing, ISSUE, resource.name, context):
                continue
            if standing.effect == "Deny":
                return False
            allowed = True
    if allowed:
        return True
    roles = principal.roles.get(cluster.pk, [])
    return any(ram_policy.action_matches(pattern, ISSUE) for slug in roles for pattern in ROLES[slug].actions)


def holders(certificates: Iterable[UserCertificate]) -> dict[int, bool]:
    """Certificate id → whether its holder still may issue (:func:`may_still_issue`), for many at once in a
    constant number of queries (select ``user`` and ``cluster`` with them)."""
    rows = list(certificates)
    users = {c.user.pk: c.user for c in rows if c.user is not None}
    principals = load_principals(users.values()) if users else {}
    return {c.pk: c.user is not None and may_still_issue(c.user, principals[c.user.pk], c.cluster) for c in rows}


def holder_may_issue(certificate: UserCertificate) -> bool:
    """Whether the certificate's holder still exists, is active and may issue certificates for its cluster."""
    return holders([certificate])[certificate.pk]


def status(
    certificate: UserCertificate, now: datetime | None = None, *, holder_may: bool | None = None
) -> tuple[str, str]:
    """``("valid" | "expired" | "revoked", reason)``: a certificate whose holder may no longer issue counts
    as revoked even before the sweep records it. ``holder_may`` is :func:`holders`' answer when a list has it."""
    now = now or timezone.now()
    if certificate.revoked_at is not None:
        return "revoked", certificate.revoked_reason
    if certificate.not_after <= now:
        return "expired", ""
    if not (holder_may_issue(certificate) if holder_may is None else holder_may):
        return "revoked", HOLDER_GONE
    return "valid", ""


def statuses(certificates: Iterable[UserCertificate]) -> list[tuple[UserCertificate, str, str]]:
    """(certificate, status, reason) of each, in a constant number of queries."""
    rows = list(certificates)
    may_issue = holders(rows)
    return [(c, *status(c, holder_may=may_issue[c.pk])) for c in rows]


def _mark(certificate: UserCertificate, reason: str, actor: Any = None) -> bool:
    """Record the revocation (compare-and-set) and its log entry; False when it was already revoked."""
    now = timezone.now()
    with transaction.atomic():
        changed = UserCertificate.objects.filter(pk=certificate.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_reason=reason[:200]
        )
        if not changed:
            return False
        certificate.revoked_at, certificate.revoked_reason = now, reason[:200]
        cluster = certificate.cluster
        audit.record(
            REVOKE,
            actor=actor,
            tenant=cluster.tenant,
            resource=cluster.resource_name,
            target=f"{certificate.serial} ({certificate.user_login})",
            cluster_id=cluster.pk,
            parameters={"serial": certificate.serial, "holder": certificate.user_login, "reason": reason[:200]},
            source=None if actor is not None else "system",
        )
    return True


def revoke(actor: Any, certificate: UserCertificate, *, reason: str = "") -> UserCertificate:
    """Revoke one certificate (recorded and shown; see the module note for what engines do with it)."""
    authorize(actor, REVOKE, certificate.cluster)
    _mark(certificate, reason.strip() or _("revoked by %(login)s") % {"login": actor.login}, actor)
    return certificate


def revoke_certificates_of(user: Any, reason: str, cluster: Cluster | None = None) -> int:
    """Revoke every live certificate of ``user`` (in one cluster when given): call it when the user is deleted
    or disabled, or loses a role or policy. Returns how many were revoked."""
    live = UserCertificate.objects.filter(user=user, revoked_at__isnull=True, not_after__gt=timezone.now())
    if cluster is not None:
        live = live.filter(cluster=cluster)
    return sum(_mark(c, reason) for c in live.select_related("cluster__tenant"))


def revoke_certificates_of_cluster(cluster: Cluster, reason: str) -> int:
    """Record as revoked every live certificate of the cluster (its CA was rotated); returns how many."""
    live = UserCertificate.objects.filter(cluster=cluster, revoked_at__isnull=True, not_after__gt=timezone.now())
    return sum(_mark(c, reason) for c in live.select_related("cluster__tenant"))


def revoke_certificates_for_cluster(user: Any, cluster: Cluster, reason: str) -> int:
    """Revoke the user's live certificates of one cluster (after its role on the cluster was revoked)."""
    return revoke_certificates_of(user, reason, cluster)


def sweep() -> int:
    """Record as revoked every live certificate whose holder may no longer issue certificates; return how many."""
    live = list(
        UserCertificate.objects.filter(revoked_at__isnull=True, not_after__gt=timezone.now()).select_related(
            "cluster__tenant", "user"
        )
    )
    may_issue = holders(live)
    return sum(_mark(certificate, HOLDER_GONE) for certificate in live if not may_issue[certificate.pk])
