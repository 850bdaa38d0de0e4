"""Request context for the audit log (and the record of refused requests), the first-run redirect, and the
websocket origin check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port, validate_host
from django.shortcuts import redirect

from accounts import permissions
from console import context
from console.api import view_actions
from console.pages import page_action


def client_ip(request: HttpRequest) -> str:
    """The caller's address. Berth listens directly, so REMOTE_ADDR is the truth (no proxy headers)."""
    return request.META.get("REMOTE_ADDR", "")


class RequestContextMiddleware:
    """Sets the ContextVars the operation log reads: request id, source (ui or api), IP, user agent; and puts
    the request's refusal on record once it has ended (``accounts.permissions.refusals_recorded``).

    A page or endpoint that answers 404 to a signed-in user refused it too, whether the door said so or the
    view's own lookup (``get_object_or_404(Model.objects.visible_to(user), …)``) did: such a 404 is recorded
    with the action the view maps the request to, and the path asked for as the target.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        """Note the RAM action the request maps to (API: ``action_map``; pages: ``page(...)``)."""
        request.berth_action = view_actions(view).get(request.method or "", "") or page_action(view, kwargs)

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
        asked = f"{request.method} {request.path}"
        with permissions.refusals_recorded(asked) as refused:
            response = self.get_response(request)
            action = getattr(request, "berth_action", "")
            if response.status_code == 404 and action and not refused:
                permissions.note_refusal(permissions.Refusal(getattr(request, "user", None), action, not_found=True))
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


def _default_port(scheme: str) -> str:
    return {"http": "80", "https": "443"}.get(scheme, "")


def _origin_key(scheme: str, netloc: str) -> tuple[str, str, str]:
    """(scheme, host, port) with the scheme's default port made explicit, host in lower case."""
    host, port = split_domain_port(netloc)
    return scheme.lower(), host, port or _default_port(scheme.lower())


def websocket_origin_allowed(scope: dict[str, Any]) -> bool:
    """Whether a websocket comes from the console's own pages.

    The ``Host`` header must name an allowed host (``ALLOWED_HOSTS``), and the ``Origin`` header must be the
    very origin of that host — scheme (``http`` for ``ws``, ``https`` for ``wss``), host and port — or one of
    ``CSRF_TRUSTED_ORIGINS`` (the same rule Django's CSRF check applies to forms). Channels'
    ``AllowedHostsOriginValidator`` compares host names only, so a page on another port of the same host passed.
    """
    headers = dict(scope.get("headers") or [])
    try:
        origin = headers.get(b"origin", b"").decode("ascii")
        host = headers.get(b"host", b"").decode("ascii")
    except UnicodeDecodeError:
        return False
    if not origin or not host:
        return False
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    parsed = urlsplit(origin)
    if not parsed.scheme or not parsed.netloc or parsed.path not in ("", "/"):
        return False
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    wanted = _origin_key(scheme, host)
    if _origin_key(parsed.scheme, parsed.netloc) == wanted:
        return True
    trusted = [urlsplit(o) for o in settings.CSRF_TRUSTED_ORIGINS]
    return any(_origin_key(parsed.scheme, parsed.netloc) == _origin_key(t.scheme, t.netloc) for t in trusted)


class WebsocketOriginMiddleware:
    """ASGI: refuses a websocket whose ``Origin`` is not the console's own (see :func:`websocket_origin_allowed`)
    before anything else reads it (a cross-site page could otherwise open a socket with the user's cookie)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not websocket_origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.app(scope, receive, send)
