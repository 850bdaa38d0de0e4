"""The attach script: a one-line command with a one-time token that makes a host a node of a cluster.

The script (``templates/clusters/attach.sh``) fetches a server certificate for its address (``/certificates``),
restarts dockerd with TLS on the cluster's CA, and asks Berth to register it (``/register``). The token is the
only credential of these anonymous calls, so it is narrow: the first call binds it to one node address and to the
caller's own source address (later calls for another node address, or from another source, are refused); it
yields one server certificate (a rerun of the script gets the same one back), at most BERTH_ATTACH_MAX_ATTEMPTS
certificate calls and as many failed registrations, and a success uses it up. The operation log names the token
(not a user), with the caller's address and who made the command. The console URL in the command is checked
strictly and every value put in shell text is quoted.

After a rotation of the cluster's CA (``clusters.rotation``), a node that Berth did not start gets a renew command
(:func:`renew_command`): the same script in renew mode, with a token bound to that node's address; it fetches a
server certificate of the new CA, restarts dockerd, and ``/register`` then re-certifies the existing node (matched
by its engine ID) instead of adding one.
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
from clusters import authority, hostaccess, netpolicy, pki, rotation
from clusters import docker_host as host
from clusters.authority import cluster_ca, ensure_ca
from clusters.models import AttachToken, Cluster, Node
from clusters.operations import register_node
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


def _command(base: str, token: str, expires: Any) -> dict[str, Any]:
    script_url = f"{base}/api/v1/attach/{token}/script"
    return {
        "command": f"curl -fsSL {shell_quote(script_url)} | sudo sh",
        "token": token,
        "expires_at": expires,
        "script_url": script_url,
    }


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
    return _command(base, token, expires)


def renew_command(actor: Any, node: Node, *, console_url: str | None = None) -> dict[str, Any]:
    """A one-line command that gives ``node`` a server certificate of its cluster's current CA (after a rotation):
    the attach script in renew mode, with a one-time token bound to the node's address. For nodes Berth did not
    start (attach script, registration by endpoint) that still run on an old CA; the local provider's are
    re-certified by the rotation itself."""
    cluster = node.cluster
    authorize(actor, rotation.ROTATE, cluster)
    base = clean_console_url(console_url or settings.BERTH_PUBLIC_URL)
    if node.state == Node.State.REMOVED:
        raise ValidationError(_("The node has been removed."))
    if node.provider_on_this_machine:
        raise ValidationError(_("Berth re-certifies the nodes it started itself when the CA is rotated."))
    if node.ca_standing(cluster) != "old":
        raise ValidationError(_("This node does not run on an earlier CA of the cluster: there is nothing to renew."))
    address = node.endpoint[len("tcp://") :].rsplit(":", 1)[0]
    try:
        address = str(ipaddress.ip_address(address))
    except ValueError as exc:
        raise ValidationError(_("The renew command needs a node registered by its IP address.")) from exc
    token = secrets.token_urlsafe(32)
    expires = timezone.now() + timedelta(minutes=settings.BERTH_ATTACH_TOKEN_MINUTES)
    AttachToken.objects.create(
        cluster=cluster,
        purpose=AttachToken.Purpose.RENEW,
        node=node,
        bound_address=address,
        token_hash=_hash_token(token),
        created_by=actor,
        expires_at=expires,
    )
    audit.record(
        "cs:CreateAttachScript",
        actor=actor,
        resource=node.resource_name,
        target=node.name,
        cluster_id=cluster.pk,
        parameters={"purpose": "renew", "expires_at": expires.isoformat(), "console_url": base},
    )
    return _command(base, token, expires)


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


def _refuse(found: AttachToken, step: str, address: str, message: str) -> ValidationError:
    _attach_log(found, step, address, error=message)
    return ValidationError(message)


def _bind_source(found: AttachToken, step: str, address: str) -> None:
    """Bind the token to the caller's own address at its first use; refuse calls from another address later."""
    source = context.source_ip.get() or ""
    try:
        source = str(ipaddress.ip_address(source.split("%")[0])) if source else ""
    except ValueError:
        source = ""
    if source:
        AttachToken.objects.filter(pk=found.pk, bound_source__isnull=True).update(bound_source=source)
    found.refresh_from_db(fields=["bound_source"])
    if found.bound_source is not None and found.bound_source != source:
        raise _refuse(
            found, step, address, _("This attach token is in use from another address; ask the console for a new one.")
        )


def attach_certificates(token: str, address: str) -> tuple[AttachToken, pki.KeyPair]:
    """The engine's server certificate for ``address``, issued by the cluster's CA: one per token.

    The first call binds the token to ``address`` and to the caller's own address; a call for another address or
    from another caller is refused; a rerun gets the same certificate back, at most BERTH_ATTACH_MAX_ATTEMPTS
    times. The token is used up by :func:`attach_register`.
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
        raise _refuse(
            found,
            "certificates",
            address,
            _("This attach token belongs to another host; ask the console for a new command."),
        )
    _bind_source(found, "certificates", address)
    counted = AttachToken.objects.filter(
        pk=found.pk, used_at__isnull=True, certificates_issued__lt=settings.BERTH_ATTACH_MAX_ATTEMPTS
    ).update(certificates_issued=F("certificates_issued") + 1)
    if not counted:
        _use_up(found)
        raise _refuse(
            found,
            "certificates",
            address,
            _("This attach token has already been used; ask the console for a new command."),
        )
    found.refresh_from_db(fields=["server_cert", "server_key_sealed"])
    if not found.server_cert:
        made = pki.issue_server(cluster_ca(found.cluster), common_name=address, ips=[address])
        AttachToken.objects.filter(pk=found.pk, server_cert="").update(
            server_cert=made.cert_pem, server_key_sealed=authority.seal(made.key_pem)
        )
        found.refresh_from_db(fields=["server_cert", "server_key_sealed"])  # a concurrent call may have won
    pair = pki.KeyPair(found.server_cert, authority.unseal(found.server_key_sealed))
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
    if found.bound_address != address or not found.server_cert:
        message = (
            _("Fetch this host's certificates first.")
            if found.bound_address is None or not found.server_cert
            else _("This attach token belongs to another host; ask the console for a new command.")
        )
        _attach_log(found, "register", address, error=message)
        raise ValidationError(message)
    _bind_source(found, "register", address)
    if found.purpose == AttachToken.Purpose.RENEW:
        return renew_register(found, address)
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
            tls_key=authority.unseal(cluster.client_key_sealed),
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


def renew_register(found: AttachToken, address: str) -> Node:
    """The renew script's last step: Berth reaches the node's engine with the cluster's current material and, when
    the same engine answers (its engine ID), stores that material for the node. Uses the token up on success; the
    BERTH_ATTACH_MAX_ATTEMPTS-th failure uses it up too."""
    cluster = found.cluster
    creator = found.created_by
    node = found.node
    try:
        if creator is None or not creator.is_active or node is None or node.cluster_id != cluster.pk:
            raise PermissionDenied
        authorize(creator, rotation.ROTATE, cluster)
    except (PermissionDenied, Http404) as exc:
        _use_up(found)
        raise _refuse(
            found, "register", address, _("This attach token is no longer valid; ask the console for a new command.")
        ) from exc
    consumed = AttachToken.objects.filter(pk=found.pk, used_at__isnull=True).update(used_at=timezone.now())
    if not consumed:
        raise ValidationError(_("This attach token has already been used; ask the console for a new command."))
    node = Node.objects.select_related("cluster__tenant").get(pk=node.pk)
    try:
        rotation.adopt_current(node, actor=TokenActor(tenant=cluster.tenant), via=f"renew command {found.pk}")
    except host.HostError as exc:
        log.warning("attach token %s: node %s did not answer with its new certificate: %s", found.pk, node.pk, exc)
        failures = found.failed_registrations + 1
        retry = failures < settings.BERTH_ATTACH_MAX_ATTEMPTS
        AttachToken.objects.filter(pk=found.pk).update(
            failed_registrations=F("failed_registrations") + 1, **({"used_at": None} if retry else {})
        )
        raise _refuse(found, "register", address, str(hostaccess.REFUSED)) from exc
    _attach_log(found, "register", address, node=node.name, renewed=True)
    return node


def attach_script(token: str, console_url: str) -> str:
    """The shell script behind the one-line command (every value in it shell-quoted); renew mode for a renew token."""
    found = redeem(token)
    try:
        base = clean_console_url(console_url)
    except ValidationError:
        base = clean_console_url(settings.BERTH_PUBLIC_URL)
    return render_to_string(
        "clusters/attach.sh",
        {"url": shell_quote(base), "token": shell_quote(token), "mode": shell_quote(found.purpose)},
    )
