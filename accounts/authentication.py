"""API authentication with access keys: ``Authorization: Bearer <AccessKeyId>:<AccessKeySecret>``."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import AccessKey


class AccessKeyAuthentication(authentication.BaseAuthentication):
    """Looks the key id up, compares the secret's hash in constant time, records the last use."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, AccessKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _sep, credentials = header.partition(" ")
        if scheme != self.keyword:
            return None
        key_id, sep, secret = credentials.strip().partition(":")
        if not sep or not key_id or not secret:
            raise exceptions.AuthenticationFailed(_("Use Authorization: Bearer <AccessKeyId>:<AccessKeySecret>."))
        key = AccessKey.objects.select_related("user", "user__tenant").filter(key_id=key_id).first()
        if key is None or not key.check_secret(secret):
            raise exceptions.AuthenticationFailed(_("Invalid access key."))
        if not key.is_active or not key.user.is_active:
            raise exceptions.AuthenticationFailed(_("This access key is disabled."))
        key.touch()
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
