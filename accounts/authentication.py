"""API authentication with access keys: ``Authorization: Bearer <AccessKeyId>:<AccessKeySecret>``; and who a
websocket is signed in as (a session or an access key), checked again for every live message."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import AccessKey, User

SessionStore = import_module(settings.SESSION_ENGINE).SessionStore

KEYWORD = "Bearer"


class AccessKeyInvalid(Exception):
    """The header names an access key, but not a usable one; the message is for people."""


def user_for_access_key(header: str) -> tuple[Any, AccessKey] | None:
    """The user of a valid ``Bearer <AccessKeyId>:<AccessKeySecret>`` header, and the key.

    None when the header is not a Bearer one; :class:`AccessKeyInvalid` when the key is wrong or
    disabled. The secret's hash is compared in constant time and the last use recorded.
    """
    scheme, _sep, credentials = header.partition(" ")
    if scheme != KEYWORD:
        return None
    key_id, sep, secret = credentials.strip().partition(":")
    if not sep or not key_id or not secret:
        raise AccessKeyInvalid(_("Use Authorization: Bearer <AccessKeyId>:<AccessKeySecret>."))
    key = AccessKey.objects.select_related("user", "user__tenant").filter(key_id=key_id).first()
    if key is None or not key.check_secret(secret):
        raise AccessKeyInvalid(_("Invalid access key."))
    if not key.is_active or not key.user.is_active:
        raise AccessKeyInvalid(_("This access key is disabled."))
    key.touch()
    return key.user, key


class AccessKeyAuthentication(authentication.BaseAuthentication):
    """The REST API's door for access keys (see :func:`user_for_access_key`)."""

    keyword = KEYWORD

    def authenticate(self, request: Request) -> tuple[Any, AccessKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        try:
            return user_for_access_key(header)
        except AccessKeyInvalid as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class AccessKeyScheme(OpenApiAuthenticationExtension):
    """The access-key scheme in the OpenAPI schema: Swagger UI signs its requests with it and generated clients
    know how to authenticate (registered with drf-spectacular when this module is imported, as the API's
    authentication settings do)."""

    target_class = AccessKeyAuthentication
    name = "accessKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "<AccessKeyId>:<AccessKeySecret>",
            "description": (
                "An access key of a RAM user (RAM → Users → Create access key, or `manage.py create_access_key`): "
                "`Authorization: Bearer <AccessKeyId>:<AccessKeySecret>`, the key's ID and its secret joined by a "
                "colon. The secret is shown once, when the key is made; a disabled key or user is refused (401). "
                "The key acts as its user, with that user's policies and cluster roles."
            ),
        }


class AccessKeyWebsocketMiddleware:
    """Websockets of scripts: an ``Authorization: Bearer`` header signs the socket in as the key's user
    (an invalid key leaves it anonymous, and the consumer refuses it). Without the header, the
    session's user (set by Channels' AuthMiddlewareStack around this) stays."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        from channels.db import database_sync_to_async
        from django.contrib.auth.models import AnonymousUser

        header = dict(scope.get("headers") or []).get(b"authorization")
        if header:

            def lookup() -> tuple[Any, int | None]:
                try:
                    found = user_for_access_key(header.decode("latin-1"))
                except AccessKeyInvalid:
                    return AnonymousUser(), None
                return (found[0], found[1].pk) if found else (scope.get("user"), None)

            user, key_id = await database_sync_to_async(lookup)()
            scope = {**scope, "user": user, "access_key_id": key_id}
        return await self.inner(scope, receive, send)


@dataclass(frozen=True)
class SocketIdentity:
    """Who a websocket signed in as, and with what: an access key, or a session (and whether it passed MFA)."""

    user_id: int
    access_key_id: int | None
    session_key: str | None
    mfa: bool


def socket_identity(scope: dict[str, Any]) -> SocketIdentity:
    """Read once on connect (sync): the user, its access key or its session, and the session's MFA state (the
    TOTP device django-otp recorded at sign-in, confirmed and the user's own)."""
    user = scope["user"]
    key_id = scope.get("access_key_id")
    if key_id is not None:
        return SocketIdentity(user.pk, key_id, None, False)
    session = scope.get("session")
    device_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    device = Device.from_persistent_id(device_id) if device_id else None
    mfa = device is not None and device.user_id == user.pk and bool(getattr(device, "confirmed", False))
    return SocketIdentity(user.pk, None, session.session_key if session is not None else None, mfa)


def socket_user(identity: SocketIdentity) -> User | None:
    """The socket's user, freshly read, while it may still act: active, and its access key still active, or its
    session still signing it in (not signed out, not expired) with its current password (as Django checks a
    session on every request). None otherwise: close the socket."""
    user = User.objects.select_related("tenant").filter(pk=identity.user_id, is_active=True).first()
    if user is None:
        return None
    if identity.access_key_id is not None:
        usable = AccessKey.objects.filter(pk=identity.access_key_id, user=user, is_active=True).exists()
        return user if usable else None
    if not identity.session_key:
        return None
    session = SessionStore(identity.session_key).load()  # {} once signed out or expired
    if str(session.get(SESSION_KEY)) != str(user.pk):
        return None
    if not constant_time_compare(session.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()):
        return None
    return user
