"""Sign-in: ``name@tenant-alias``, or a primary account's bare name."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from accounts.models import User


def find_login(login: str) -> User | None:
    """The user a login names: ``name@alias`` exactly, or a primary account named ``login``."""
    login = (login or "").strip()
    if "@" in login:
        return User.objects.filter(login=login).select_related("tenant").first()
    matches = list(User.objects.filter(name=login, is_primary=True).select_related("tenant")[:2])
    return matches[0] if len(matches) == 1 else None


class TenantLoginBackend(ModelBackend):
    """Authenticates against the tenant-qualified login; object permissions are guardian's."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kw: Any
    ) -> User | None:
        user = find_login(username or "")
        if user is None:
            User().set_password(password)  # same work as a real check: no timing oracle for names
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


def axes_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str:
    """The login django-axes counts failures against: what the user typed, completed with the tenant."""
    if credentials and credentials.get("username"):
        return str(credentials["username"]).strip().lower()
    data = getattr(request, "POST", {}) or {}
    raw = str(data.get("login", "")).strip()
    tenant = str(data.get("tenant", "")).strip()
    return (f"{raw}@{tenant}" if tenant and "@" not in raw else raw).lower()
