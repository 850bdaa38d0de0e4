"""Request context for the audit log (and the record of refused requests), the refusal of NUL characters, the
first-run redirect, and the websocket origin check."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.http.request import split_domain_port, validate_host
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve
from django.utils.http import is_same_domain, url_has_allowed_host_and_scheme

from accounts import permissions
from accounts.pages import page_action
from console import context
from console.api import view_actions


def client_ip(request: HttpRequest) -> str:
    """The caller's address: REMOTE_ADDR when Berth listens directly (a client's own proxy headers are never
    believed); behind the reverse proxy of ``BERTH_BEHIND_PROXY``, the address that proxy saw, which it appends
    last to X-Forwarded-For (anything before it came from the client)."""
    if settings.BERTH_BEHIND_PROXY:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if forwarded[-1]:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR", "")


def route_action(request: HttpRequest) -> str:
    """The RAM action the request's route maps it to (API: ``action_map``; pages: ``page(...)``); "" for a path
    that routes nowhere or to a view of no action."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return ""
    method = request.method or ""
    return view_actions(match.func).get(method, "") or page_action(match.func, method, match.kwargs)


JSON_NUL = re.compile(rb"(?:^|[^\\])(?:\\\\)*\\u0000")
r"""A ``\u0000`` escape in JSON text (not an escaped backslash followed by ``u0000``)."""


def nul_in_request(request: HttpRequest) -> bool:
    """Whether the request's query string, a header, a JSON body or a page's form fields carry a NUL character.

    The API reads JSON only (another body is 415 there), so its stream is left to it: only a JSON body is read here
    (Django keeps it for the parser). A page's form is parsed anyway (the CSRF check reads it); files stay bytes.
    """
    if any("\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()):
        return True
    headers = (value for key, value in request.META.items() if key.startswith("HTTP_") and isinstance(value, str))
    if any("\x00" in value for value in headers):
        return True
    content_type = request.content_type or ""
    if content_type == "application/json" or content_type.endswith("+json"):
        return b"\x00" in request.body or bool(JSON_NUL.search(request.body))
    forms = ("application/x-www-form-urlencoded", "multipart/form-data")
    if request.method == "POST" and content_type in forms and not request.path.startswith("/api/"):
        return any("\x00" in key or any("\x00" in v for v in values) for key, values in request.POST.lists())
    return False


class NulCharacterMiddleware:
    """No name, filter or value Berth keeps holds a NUL character, and PostgreSQL refuses one in text: a request
    carrying one is refused here, once, before any view, lookup or the request log reads it (it answered 500 on
    PostgreSQL). In the path it names nothing (404); in the query string, a header, a form or a JSON body it is a
    bad request (400). API answers keep the API's shape (``{"detail": …}``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        api = request.path.startswith("/api/")
        if "\x00" in request.path:
            if api:
                return JsonResponse({"detail": "Not found."}, status=404)
            raise Http404
        if nul_in_request(request):
            message = "The request carries a NUL character (\\u0000): no name, filter or value may hold one."
            if api:
                return JsonResponse({"detail": message}, status=400)
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class RequestContextMiddleware:
    """Sets the ContextVars the operation log reads: request id, source (ui or api), IP, user agent; and puts
    the request's refusal on record once it has ended (``accounts.permissions.refusals_recorded``).

    A page or endpoint that answers 403 or 404 to a signed-in user refused it too, whether the door said so or
    something else did (a view's own lookup, ``get_object_or_404(Model.objects.visible_to(user), …)``; a rule
    that raised ``PermissionDenied`` itself; a middleware such as the CSRF check): when nothing was noted, such an
    answer is recorded with the action its route maps the request to, and the method and path as the target.
    """

    RECORDED = {403: False, 404: True}  # status -> recorded as "not found"
    # A CSRF failure (``csrf_failure``) is not recorded: it refuses no one, a form outlived its token.

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
        asked = f"{request.method} {request.path}"
        with permissions.refusals_recorded(asked) as refused:
            response = self.get_response(request)
            csrf_failed = getattr(request, "berth_csrf_failed", False)
            if response.status_code in self.RECORDED and not refused and not csrf_failed:
                action = route_action(request)
                if action:
                    refusal = permissions.Refusal(
                        getattr(request, "user", None), action, not_found=self.RECORDED[response.status_code]
                    )
                    permissions.note_refusal(refusal)
        response["X-Request-Id"] = request.request_id
        return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: a form sent without a valid token (the page was open too long, or its user signed
    in again elsewhere, which rotates the token) gets the console's page saying so, with a link back to the page
    it came from (the Referer's path when it is this console's own, else the overview). It is not a refusal: the
    operation log does not record it (``RequestContextMiddleware``), and the 403 status stays."""
    request.berth_csrf_failed = True  # type: ignore[attr-defined]
    referer = request.META.get("HTTP_REFERER", "")
    back = ""
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = urlsplit(referer).path or "/"
    return render(request, "csrf_failure.html", {"back": back}, status=403)


class MethodNotAllowedPageMiddleware:
    """A console address that does not answer the method used shows a page that says so, not a blank 405: a
    button's or form's target opened as a page (a GET to a POST-only address), or a page sent a POST (or another
    method) it does not take, which then links to the page itself. API answers keep their own shape."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 405 and not response.content and not request.path.startswith(("/api/", "/ws/")):
            allowed = [m.strip() for m in response.get("Allow", "").split(",") if m.strip()]
            page = render(request, "405.html", {"allowed": allowed, "opens": "GET" in allowed}, status=405)
            page["Allow"] = response.get("Allow", "")
            return page
        return response


class ApiErrorShapeMiddleware:
    """Every answer under /api/ is JSON: every refusal (4xx) that is not JSON already — a path that routes nowhere
    (404), a method an address does not answer (405), a body or ``Accept`` it cannot take (415, 406) — whoever made
    the answer (Django's resolver, the HTML 404 page, the schema's YAML renderer, Swagger UI's HTML), comes back as
    ``{"detail": …}`` with its status and ``Allow`` header, as DRF's own errors do. A ``text/plain`` answer is a
    message an endpoint wrote on purpose for a shell (the attach script's calls, read by ``curl``): kept as written."""

    DETAILS = {
        400: "Bad request.",
        403: "You do not have permission to perform this action.",
        404: "Not found.",
        405: 'Method "{method}" not allowed.',
        406: "Could not satisfy the request Accept header.",
        415: "Unsupported media type in request.",
    }

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        kept = response.get("Content-Type", "").startswith(("application/json", "text/plain"))
        if not 400 <= response.status_code < 500 or kept or not request.path.startswith("/api/"):
            return response
        detail = self.DETAILS.get(response.status_code, f"{response.reason_phrase}.")
        shaped = JsonResponse({"detail": detail.format(method=request.method)}, status=response.status_code)
        for header in ("Allow", "WWW-Authenticate", "Retry-After"):
            if response.has_header(header):
                shaped[header] = response[header]
        return shaped


class FirstRunMiddleware:
    """Until the first tenant exists, every console page leads to the setup page (as Portainer does)."""

    exempt_prefixes = ("/setup/", "/static/", "/api/", "/ws/", "/healthz", "/metrics", "/favicon.ico")

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


def _header(scope: dict[str, Any], name: bytes) -> str:
    return dict(scope.get("headers") or []).get(name, b"").decode("latin-1")


def socket_secure(scope: dict[str, Any]) -> bool:
    """Whether a websocket came over TLS: ``wss``, or behind the reverse proxy of ``BERTH_BEHIND_PROXY`` its
    X-Forwarded-Proto saying ``https`` (read as Django reads ``SECURE_PROXY_SSL_HEADER`` for a request)."""
    if scope.get("scheme") in ("wss", "https"):
        return True
    return settings.BERTH_BEHIND_PROXY and _header(scope, b"x-forwarded-proto").split(",")[0].strip() == "https"


def socket_address(scope: dict[str, Any]) -> str:
    """A websocket's caller address, read as :func:`client_ip` reads a request's."""
    if settings.BERTH_BEHIND_PROXY:
        forwarded = _header(scope, b"x-forwarded-for").split(",")[-1].strip()
        if forwarded:
            return forwarded
    client = scope.get("client") or ("", 0)
    return client[0] or ""


def websocket_origin_allowed(scope: dict[str, Any]) -> bool:
    """Whether a websocket comes from the console's own pages.

    The ``Host`` header must name an allowed host (``ALLOWED_HOSTS``), and the ``Origin`` header must be the
    very origin of that host — scheme (``http`` for ``ws``, ``https`` for ``wss``), host and port — or one of
    ``CSRF_TRUSTED_ORIGINS``, wildcard entries included (the rule Django's CSRF check applies to forms). Channels'
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
    scheme = "https" if socket_secure(scope) else "http"
    if _origin_key(parsed.scheme, parsed.netloc) == _origin_key(scheme, host):
        return True
    return _csrf_trusted(parsed.scheme, parsed.netloc)


def _csrf_trusted(scheme: str, netloc: str) -> bool:
    """Whether ``scheme://netloc`` is one of ``CSRF_TRUSTED_ORIGINS`` as Django's CSRF check reads them: an exact
    origin (here with the scheme's default port made explicit), or a wildcard entry (``https://*.example.com``)
    for the domain and its subdomains, with the same scheme (and the same port, when it names one)."""
    csrf = CsrfViewMiddleware(_no_response)  # its parsed view of the setting, read now (tests change it)
    key = _origin_key(scheme, netloc)
    if any(key == _origin_key(t.scheme, t.netloc) for t in map(urlsplit, csrf.allowed_origins_exact)):
        return True
    return any(is_same_domain(netloc.lower(), host) for host in csrf.allowed_origin_subdomains.get(scheme.lower(), ()))


def _no_response(request: HttpRequest) -> HttpResponse:  # the CSRF middleware's next step, never called here
    raise NotImplementedError


class WebsocketOriginMiddleware:
    """ASGI: refuses a websocket whose ``Origin`` is not the console's own (see :func:`websocket_origin_allowed`)
    before anything else reads it (a cross-site page could otherwise open a socket with the user's cookie)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not websocket_origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.app(scope, receive, send)
