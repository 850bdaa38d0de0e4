"""Console pages of accounts: first-run setup, sign-in, RAM (users and access keys)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import operations
from accounts.forms import LoginForm, SetupForm
from accounts.models import AccessKey, Tenant, User
from console import audit


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
            login(request, user, backend="accounts.backends.TenantLoginBackend")
            messages.success(request, _("Welcome to Berth. Your machine's Docker engine is the cluster “local”."))
            return redirect("console:dashboard")
    return render(request, "accounts/setup.html", {"form": form})


def login_view(request: HttpRequest) -> HttpResponse:
    """Sign in; every attempt, good or bad, is in the operation log."""
    form = LoginForm(request, request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            login(request, form.user, backend="accounts.backends.TenantLoginBackend")
            audit.record(
                "ram:ConsoleSignin",
                actor=form.user,
                resource=f"acs:ram:*:{form.user.tenant_id}:user/{form.user.name}",
                target=form.user.login,
            )
            return redirect(request.GET.get("next") or "console:dashboard")
        from accounts.backends import find_login

        who = find_login(request.POST.get("login", ""))
        audit.record(
            "ram:ConsoleSignin",
            tenant=who.tenant if who else None,
            target=request.POST.get("login", "")[:100],
            outcome=audit.OperationLog.Outcome.FAILURE,
            error=_("Wrong user name or password."),
        )
    return render(request, "accounts/login.html", {"form": form})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("accounts:login")


@login_required
def ram(request: HttpRequest) -> HttpResponse:
    """RAM overview: the tenant's users and the signed-in user's access keys."""
    users = User.objects.filter(tenant=request.user.tenant) if request.user.is_primary else [request.user]
    keys = AccessKey.objects.filter(user=request.user)
    new_secret = request.session.pop("new_access_key", None)
    return render(request, "accounts/ram.html", {"users": users, "keys": keys, "new_secret": new_secret})


@login_required
@require_POST
def access_key_create(request: HttpRequest) -> HttpResponse:
    try:
        key, secret = operations.create_access_key(request.user, request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        # Shown once, on the next page only; never stored in clear.
        request.session["new_access_key"] = f"{key.key_id}:{secret}"
    return redirect("accounts:ram")


@login_required
@require_POST
def access_key_delete(request: HttpRequest, key_id: str) -> HttpResponse:
    key = AccessKey.objects.filter(user__tenant=request.user.tenant, key_id=key_id).first()
    if key is None or (key.user_id != request.user.pk and not request.user.is_primary):
        raise Http404
    operations.delete_access_key(request.user, key)
    messages.success(request, _("Access key %(id)s deleted.") % {"id": key_id})
    return redirect("accounts:ram")
