"""First-run setup, sign-in (with TOTP MFA and throttling), and the signed-in user's own account."""

from __future__ import annotations

import base64
import io
from typing import Any

from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import operations, permissions
from accounts.backends import find_login
from accounts.forms import LoginForm, MfaForm, PasswordChangeForm, SetupForm
from accounts.models import AccessKey, Tenant, User
from accounts.pages import page
from accounts.templatetags.berth import ONCE_FIELD
from console import audit
from console.forms import refused

BACKEND = "accounts.backends.TenantLoginBackend"


def setup(request: HttpRequest) -> HttpResponse:
    """First run: create the first tenant and its primary account. Gone once a tenant exists."""
    if Tenant.objects.exists():
        return redirect("accounts:login")
    form = SetupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = operations.create_tenant(
                name=data["tenant_name"], alias=data["alias"], admin=data["admin"], password=data["password"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            login(request, user, backend=BACKEND)
            messages.success(request, _("Welcome to Berth. Your machine's Docker engine is the cluster “local”."))
            return redirect("console:dashboard")
    return render(request, "accounts/setup.html", {"form": form})


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return "/"


def _signed_in(request: HttpRequest, user: User, target: str, *, mfa: bool = False) -> HttpResponse:
    audit.record(
        "ram:ConsoleSignin", actor=user, resource=user.resource_name, target=user.login, parameters={"mfa": mfa}
    )
    return redirect(target)


def login_view(request: HttpRequest) -> HttpResponse:
    """Sign in as ``name@alias`` (or name + tenant); a user with MFA gives a TOTP code next."""
    form = LoginForm(request, request.POST or None, initial={"next": request.GET.get("next", "")})
    if request.method == "POST":
        if form.is_valid():
            user = form.user
            device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
            if device is not None:
                request.session["mfa_pending"] = user.pk
                request.session["mfa_next"] = _next_url(request)
                return redirect("accounts:login_mfa")
            login(request, user, backend=BACKEND)
            return _signed_in(request, user, _next_url(request))
        who = find_login(form.login_name())
        audit.record(
            "ram:ConsoleSignin",
            tenant=who.tenant if who else None,
            target=form.login_name()[:100],
            outcome=audit.OperationLog.Outcome.FAILURE,
            error=_("Too many failed attempts.")
            if getattr(request, "axes_locked_out", False)
            else _("Wrong user name or password."),
        )
        if getattr(request, "axes_locked_out", False):
            return render(request, "accounts/locked.html", status=429)
    return render(request, "accounts/login.html", {"form": form})


def login_mfa(request: HttpRequest) -> HttpResponse:
    """Second step of sign-in for users with MFA: a TOTP code."""
    user = User.objects.filter(pk=request.session.get("mfa_pending"), is_active=True).first()
    if user is None:
        return redirect("accounts:login")
    form = MfaForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = next(
            (
                d
                for d in TOTPDevice.objects.filter(user=user, confirmed=True)
                if d.verify_token(form.cleaned_data["code"])
            ),
            None,
        )
        if device is not None:
            target = request.session.pop("mfa_next", "/")
            request.session.pop("mfa_pending", None)
            login(request, user, backend=BACKEND)
            otp_login(request, device)
            return _signed_in(request, user, target, mfa=True)
        audit.record(
            "ram:ConsoleSignin",
            actor=user,
            target=user.login,
            outcome=audit.OperationLog.Outcome.FAILURE,
            error=_("Wrong MFA code."),
        )
        form.add_error("code", _("Wrong or expired code."))
    return render(request, "accounts/login_mfa.html", {"form": form, "login": user.login})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        audit.record("ram:ConsoleSignout", actor=request.user, target=request.user.login)
    logout(request)
    return redirect("accounts:login")


def _qr_svg(uri: str) -> str:
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


@page(get="ram:ListAccessKeys", post="ram:ChangePassword", also=("ram:CreateVirtualMFADevice",), own=True)
def account(request: HttpRequest) -> HttpResponse:
    """One's own account: password, MFA, access keys."""
    user: User = request.user  # type: ignore[assignment]
    password_form = PasswordChangeForm(request.POST or None, prefix="pw")
    if request.method == "POST" and "pw-password" in request.POST and password_form.is_valid():
        try:
            operations.change_password(
                user, user, password_form.cleaned_data["password"], current=password_form.cleaned_data["current"]
            )
        except ValidationError as exc:
            refused(password_form, exc)
        except PermissionDenied as exc:
            password_form.add_error(None, str(exc))
        else:
            update_session_auth_hash(request, user)
            messages.success(request, _("Password changed."))
            return redirect("accounts:account")
    pending = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    context: dict[str, Any] = {
        "password_form": password_form,
        "mfa_enabled": TOTPDevice.objects.filter(user=user, confirmed=True).exists(),
        "pending": pending,
        "qr": _qr_svg(pending.config_url) if pending else None,
        # The key an authenticator app asks for when typed in: the secret in base32, not the whole otpauth URI.
        "mfa_secret": base64.b32encode(pending.bin_key).decode().rstrip("=") if pending else "",
        "mfa_form": MfaForm(prefix="mfa"),
        "keys": AccessKey.objects.filter(user=user),
    }
    return render(request, "accounts/account.html", context)


@page(post="ram:CreateVirtualMFADevice", own=True)
def mfa_begin(request: HttpRequest) -> HttpResponse:
    """Make an unconfirmed TOTP device and show its secret as a QR code."""
    user: User = request.user  # type: ignore[assignment]
    operations.begin_mfa(user, user)  # every user may protect its own sign-in with MFA
    return redirect("accounts:account")


@page(post="ram:CreateVirtualMFADevice", own=True)
def mfa_confirm(request: HttpRequest) -> HttpResponse:
    """Confirm the new device with a first code; from now on sign-in asks for one."""
    user: User = request.user  # type: ignore[assignment]
    form = MfaForm(request.POST, prefix="mfa")
    try:
        device = operations.confirm_mfa(user, user, form.cleaned_data["code"] if form.is_valid() else "")
    except ValidationError:
        messages.error(request, _("Wrong or expired code; MFA is not enabled yet."))
        return redirect("accounts:account")
    otp_login(request, device)
    messages.success(request, _("MFA is on: sign-in will ask for a code from your authenticator."))
    return redirect("accounts:account")


@page(post="ram:DeleteVirtualMFADevice", own=True)
def mfa_disable(request: HttpRequest) -> HttpResponse:
    """Turn MFA off (a current code is required)."""
    user: User = request.user  # type: ignore[assignment]
    form = MfaForm(request.POST, prefix="mfa")
    try:
        operations.disable_mfa(user, user, form.cleaned_data["code"] if form.is_valid() else "")
    except ValidationError:
        messages.error(request, _("Wrong or expired code; MFA stays on."))
        return redirect("accounts:account")
    messages.success(request, _("MFA is off."))
    return redirect("accounts:account")


def _back(request: HttpRequest) -> str:
    """Where a form posted from a page returns: the ``back`` field when it is a path of this site, else the
    account page (never another site: an open redirect would carry the console's users anywhere)."""
    back = request.POST.get("back", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=False):
        return back
    return reverse("accounts:account")


ONCE_SESSION_KEY = "berth_done_once"
ONCE_REMEMBERED = 20


def done_before(request: HttpRequest) -> str | None:
    """What an earlier POST of this very form made (its ``once`` field, see ``{% once_field %}``), or None.

    The answer to creating an access key shows the secret and keeps nothing of it, so a reload of that answer
    (which sends the POST again) must not silently make a second key: the session remembers which ``once`` token
    made which key id (never the secret)."""
    token = request.POST.get(ONCE_FIELD, "")
    return (request.session.get(ONCE_SESSION_KEY) or {}).get(token) if token else None


def remember_done(request: HttpRequest, made: str) -> None:
    """Note that this POST's ``once`` token made ``made`` (a few of the latest are kept)."""
    token = request.POST.get(ONCE_FIELD, "")
    if token:
        done = dict(request.session.get(ONCE_SESSION_KEY) or {})
        done[token] = made
        request.session[ONCE_SESSION_KEY] = dict(list(done.items())[-ONCE_REMEMBERED:])


def access_key_created(request: HttpRequest, key: AccessKey | None, secret: str, back: str) -> HttpResponse:
    """The answer to creating an access key: its secret, this once. Nothing of it is kept (not in the session
    either), and the page is not cached. ``key`` None with ``secret`` "": the form was sent again (a reload);
    nothing new was made."""
    response = render(
        request,
        "accounts/access_key_created.html",
        {"key": key, "secret": secret, "back": back, "again": done_before(request) if key is None else None},
    )
    add_never_cache_headers(response)
    return response


def create_access_key_once(request: HttpRequest, subject: User, back: str) -> HttpResponse:
    """Create an access key for ``subject`` unless this form was already sent (a reload), and answer with it."""
    if done_before(request):
        return access_key_created(request, None, "", back)
    try:
        key, secret = operations.create_access_key(request.user, subject)
    except ValidationError as exc:  # a refusal (PermissionDenied) is the door's 403 page, on record
        messages.error(request, " ".join(exc.messages))
        return redirect(back)
    remember_done(request, key.key_id)
    return access_key_created(request, key, secret, back)


@page(post="ram:CreateAccessKey", own=True)
def access_key_create(request: HttpRequest) -> HttpResponse:
    return create_access_key_once(request, request.user, _back(request))  # type: ignore[arg-type]


@page(
    post={"disable": "ram:UpdateAccessKey", "enable": "ram:UpdateAccessKey", "delete": "ram:DeleteAccessKey"},
    verb="change",
)
def access_key_change(request: HttpRequest, key_id: str, change: str) -> HttpResponse:
    """Disable, enable or delete one's own access key, or (from the RAM user page) another user's."""
    user: User = request.user  # type: ignore[assignment]
    key = AccessKey.objects.filter(tenant_id=user.tenant_id, key_id=key_id).select_related("user").first()
    if key is None or not User.objects.visible_to(user).filter(pk=key.user_id).exists() and key.user_id != user.pk:
        permissions.refuse(user, request.berth_action, target=key_id, not_found=True)  # type: ignore[attr-defined]
    if change == "delete":
        operations.delete_access_key(user, key)
        messages.success(request, _("Access key %(id)s deleted.") % {"id": key_id})
    else:
        operations.set_access_key_active(user, key, change == "enable")
    return redirect(_back(request))
