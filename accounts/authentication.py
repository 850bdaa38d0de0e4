"""API authentication with access keys: ``Authorization: Bearer <AccessKeyId>:<AccessKeySecret>``."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import AccessKey

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

            def lookup() -> Any:
                try:
                    found = user_for_access_key(header.decode("latin-1"))
                except AccessKeyInvalid:
                    return AnonymousUser()
                return found[0] if found else scope.get("user")

            scope = {**scope, "user": await database_sync_to_async(lookup)()}
        return await self.inner(scope, receive, send)
