"""The attach script: a one-line command with a one-time token that makes a host a node of a cluster.

The script (``templates/clusters/attach.sh``) fetches a server certificate for its address (``/certificates``),
restarts dockerd with TLS on the cluster's CA, and asks Berth to register it (``/register``). The token is the
only credential of these anonymous calls, so it is narrow: the first certificates call binds it to one address,
calls for another address are refused, the same host gets at most BERTH_ATTACH_MAX_ATTEMPTS certificates and as
many failed registrations, and a success uses it up. The operation log names the token (not a user), with the
caller's address and who made the command. The console URL in the command is checked strictly and every value
put in shell text is quoted.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F
from django.http import Http404
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Tenant
from accounts.permissions import authorize
from clusters import hostaccess, netpolicy, pki
from clusters.models import AttachToken, Cluster, Node
from clusters.operations import _unseal, cluster_ca, ensure_ca, register_node
from console import audit, context

log = logging.getLogger(__name__)
CONSOLE_URL_RE = re.compile(r"^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?(/[A-Za-z0-9._~/-]*)?$")


@dataclass(frozen=True)
class TokenActor:
    """Who the operation log names for the attach script's anonymous calls: the token, not a user."""

    tenant: Tenant
    login: str = "attach-token"
    kind: str = "system"
    pk: None = None


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def clean_console_url(url: str | None) -> str:
    """The console's URL as it may appear in a shell command: ``http(s)://host[:port][/path]`` and nothing else
    (no quotes, spaces, ``$``, ``;`` or other shell metacharacters), without a trailing slash."""
    value = (url or "").strip().rstrip("/")
    if len(value) > 200 or not CONSOLE_URL_RE.match(value):
        raise ValidationError(
            {"console_url": [_("An http:// or https:// address of this console: host, port and path only.")]}
        )
    return value


def shell_quote(text: str) -> str:
    """``text`` as one single-quoted shell word."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def attach_command(actor: Any, cluster: Cluster, *, console_url: str | None = None) -> dict[str, Any]:
    """A one-line command with a one-time token that makes a host a node of the cluster."""
    authorize(actor, "cs:AddClusterNodes", cluster)
    base = clean_console_url(console_url or settings.BERTH_PUBLIC_URL)
    ensure_ca(cluster)
    token = secrets.token_urlsafe(32)
    expires = timezone.now() + timedelta(minutes=settings.BERTH_ATTACH_TOKEN_MINUTES)
    AttachToken.objects.create(cluster=cluster, token_hash=_hash_token(token), created_by=actor, expires_at=expires)
    audit.record(
        "cs:CreateAttachScript",
        actor=actor,
        resource=cluster.resource_name,
        target=cluster.name,
        cluster_id=cluster.pk,
        parameters={"expires_at": expires.isoformat(), "console_url": base},
    )
    script_url = f"{base}/api/v1/attach/{token}/script"
    return {
        "command": f"curl -fsSL {shell_quote(script_url)} | sudo sh",
        "token": token,
        "expires_at": expires,
        "script_url": script_url,
    }


def redeem(token: str) -> AttachToken:
    """The live token named by ``token``; ValidationError("expired" / "already used" / "unknown") otherwise."""
    found = AttachToken.objects.select_related("cluster__tenant", "created_by").filter(token_hash=_hash_token(token))
    found = found.first()
    if found is None:
        raise ValidationError(_("Unknown attach token."))
    if found.used_at is not None:
        raise ValidationError(_("This attach token has already been used; ask the console for a new command."))
    if found.expires_at <= timezone.now():
        raise ValidationError(_("This attach token has expired; ask the console for a new command."))
    return found


def _attach_log(found: AttachToken, step: str, address: str, *, error: str = "", **more: Any) -> None:
    """An operation-log entry of one anonymous step of the attach script: named for the token (not a user),
    source ``trigger``, with the caller's address (from the request context), the command's id and who made it
    (the parameter names avoid words the log redacts)."""
    cluster = found.cluster
    audit.record(
        "cs:AttachNode",
        actor=TokenActor(tenant=cluster.tenant),
        tenant=cluster.tenant,
        resource=cluster.resource_name,
        target=address or cluster.name,
        cluster_id=cluster.pk,
        parameters={
            "step": step,
            "command": found.pk,
            "command_by": found.created_by.login if found.created_by else "",
            "address": address,
            **more,
        },
        outcome=audit.OperationLog.Outcome.FAILURE if error else audit.OperationLog.Outcome.SUCCESS,
        error=error,
        source="trigger",
    )


def _use_up(found: AttachToken) -> None:
    AttachToken.objects.filter(pk=found.pk, used_at__isnull=True).update(used_at=timezone.now())


def _attach_address(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError as exc:
        raise ValidationError(_("address: an IP address")) from exc


def attach_certificates(token: str, address: str) -> tuple[AttachToken, pki.KeyPair]:
    """The engine's server certificate for ``address``, issued by the cluster's CA.

    The first call binds the token to ``address``; a call for another address is refused; the same address
    gets at most BERTH_ATTACH_MAX_ATTEMPTS certificates. The token is used up by :func:`attach_register`.
    """
    found = redeem(token)
    context.source.set("trigger")
    address = _attach_address(address)
    try:
        netpolicy.check(address)
    except netpolicy.AddressRefused as exc:
        log.warning("attach token %s: certificates for %s refused: %s", found.pk, address, exc)
        _attach_log(found, "certificates", address, error=str(hostaccess.REFUSED))
        raise ValidationError(str(hostaccess.REFUSED)) from exc
    AttachToken.objects.filter(pk=found.pk, bound_address__isnull=True).update(bound_address=address)
    found.refresh_from_db(fields=["bound_address", "certificates_issued", "used_at"])
    if found.bound_address != address:
        message = _("This attach token belongs to another host; ask the console for a new command.")
        _attach_log(found, "certificates", address, error=message)
        raise ValidationError(message)
    counted = AttachToken.objects.filter(
        pk=found.pk, used_at__isnull=True, certificates_issued__lt=settings.BERTH_ATTACH_MAX_ATTEMPTS
    ).update(certificates_issued=F("certificates_issued") + 1)
    if not counted:
        _use_up(found)
        message = _("This attach token has already been used; ask the console for a new command.")
        _attach_log(found, "certificates", address, error=message)
        raise ValidationError(message)
    pair = pki.issue_server(cluster_ca(found.cluster), common_name=address, ips=[address])
    _attach_log(found, "certificates", address, fingerprint=pki.fingerprint(pair.cert_pem))
    return found, pair


def attach_register(token: str, *, address: str, name: str, port: int = 2376) -> Node:
    """The script's last step: Berth reaches the engine over mutual TLS and registers it.

    Only for the address the token is bound to; a success uses the token up, and so does the
    BERTH_ATTACH_MAX_ATTEMPTS-th failure. The node is registered with the rights of the user who made the
    token (it must still be allowed to add nodes); the log names the token.
    """
    found = redeem(token)
    context.source.set("trigger")
    address = _attach_address(address)
    cluster = found.cluster
    if found.bound_address != address:
        message = (
            _("Fetch this host's certificates first.")
            if found.bound_address is None
            else _("This attach token belongs to another host; ask the console for a new command.")
        )
        _attach_log(found, "register", address, error=message)
        raise ValidationError(message)
    creator = found.created_by
    try:
        if creator is None or not creator.is_active:
            raise PermissionDenied
        authorize(creator, "cs:AddClusterNodes", cluster)
    except (PermissionDenied, Http404) as exc:
        _use_up(found)
        message = _("This attach token is no longer valid; ask the console for a new command.")
        _attach_log(found, "register", address, error=message)
        raise ValidationError(message) from exc
    name = re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")[:63] or f"node-{address.replace('.', '-')}"
    if Node.objects.filter(cluster=cluster, name=name).exists():
        name = f"{name}-{secrets.token_hex(2)}"
    consumed = AttachToken.objects.filter(pk=found.pk, used_at__isnull=True).update(used_at=timezone.now())
    if not consumed:
        raise ValidationError(_("This attach token has already been used; ask the console for a new command."))
    try:
        node = register_node(
            creator,
            cluster,
            name=name,
            endpoint=f"tcp://{address}:{port}",
            publish_ip=address,
            tls_ca=cluster.ca_cert,
            tls_cert=cluster.client_cert,
            tls_key=_unseal(cluster.client_key_sealed),
            provider=Node.Provider.ATTACH,
            recorded_as=TokenActor(tenant=cluster.tenant),
            log_parameters={"command": found.pk, "command_by": creator.login},
        )
    except ValidationError:
        failures = found.failed_registrations + 1
        retry = failures < settings.BERTH_ATTACH_MAX_ATTEMPTS
        AttachToken.objects.filter(pk=found.pk).update(
            failed_registrations=F("failed_registrations") + 1, **({"used_at": None} if retry else {})
        )
        raise
    AttachToken.objects.filter(pk=found.pk).update(node=node)
    return node


def attach_script(token: str, console_url: str) -> str:
    """The shell script behind the one-line command (every value in it shell-quoted)."""
    redeem(token)
    try:
        base = clean_console_url(console_url)
    except ValidationError:
        base = clean_console_url(settings.BERTH_PUBLIC_URL)
    return render_to_string("clusters/attach.sh", {"url": shell_quote(base), "token": shell_quote(token)})
