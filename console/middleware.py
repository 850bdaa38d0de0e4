"""Request context for the audit log, and the first-run redirect to the setup page."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from console import context


def client_ip(request: HttpRequest) -> str:
    """The caller's address. Berth listens directly, so REMOTE_ADDR is the truth (no proxy headers)."""
    return request.META.get("REMOTE_ADDR", "")


class RequestContextMiddleware:
    """Sets the ContextVars the operation log reads: request id, source (ui or api), IP, user agent."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        src = "api" if request.path.startswith("/api/") else "ui"
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        context.begin(
            src=src,
            ip=client_ip(request),
            agent=request.META.get("HTTP_USER_AGENT", ""),
            actor=user.pk if signed_in else None,
            mfa=bool(signed_in and getattr(user, "is_verified", lambda: False)()),
            secure=request.is_secure(),
        )
        request.request_id = context.request_id.get()
        response = self.get_response(request)
        response["X-Request-Id"] = request.request_id
        return response


class FirstRunMiddleware:
    """Until the first tenant exists, every console page leads to the setup page (as Portainer does)."""

    exempt_prefixes = ("/setup/", "/static/", "/api/", "/ws/", "/healthz")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(self.exempt_prefixes):
            from accounts.models import Tenant

            if not Tenant.objects.exists():
                return redirect("accounts:setup")
        return self.get_response(request)
