"""Console pages of RAM: users, groups, policies, authorizations (cluster grants), simulator, settings, actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts import operations as ops
from accounts import permissions
from accounts.api import grant_rows
from accounts.catalogue import catalogue
from accounts.forms import (
    AttachForm,
    GrantForm,
    GroupForm,
    PasswordPolicyForm,
    PolicyForm,
    PolicyVersionForm,
    ResetPasswordForm,
    SimulatorForm,
    SubAccountForm,
)
from accounts.models import AccessKey, Policy, RamGroup, User
from accounts.pages import every, page, page_object
from accounts.permissions import may
from accounts.views.auth import create_access_key_once
from console.forms import refused
from console.paging import page_of


def _attempt(request: HttpRequest, work: Callable[[], Any], success: str | None = None) -> bool:
    """Run an operation; a ValidationError becomes an error message. True when it worked."""
    try:
        work()
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return False
    if success:
        messages.success(request, success)
    return True


def _attach_or_detach(request: HttpRequest, change: str, **holder: Any) -> None:
    """Attach or detach the policy named in the form to/from ``user=`` or ``group=``."""
    operation = ops.attach_policy if change == "attach" else ops.detach_policy
    done = _("Policy attached.") if change == "attach" else _("Policy detached.")
    pol = ops.find_policy(request.user, request.POST.get("policy", ""))
    _attempt(request, lambda: operation(request.user, pol, **holder), done)


# Policies by name: a tenant's custom policy before a system policy of the same name.
POLICIES = Policy.objects.order_by("-tenant_id")


def _attachable(request: HttpRequest, attached: Any) -> list[str]:
    """The policies the user may see that are not attached yet (``attached``: the holder's attachments)."""
    visible = Policy.objects.visible_to(request.user).exclude(pk__in=attached.values("policy_id"))
    return list(visible.values_list("name", flat=True))


# --- users -----------------------------------------------------------------------------------------


@page(get="ram:ListUsers", post="ram:CreateUser", scope={"ram:CreateUser": every("ram", "user")})
def users(request: HttpRequest) -> HttpResponse:
    form = SubAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = ops.create_subaccount(request.user, **form.cleaned_data)
        except ValidationError as exc:
            refused(form, exc)
        else:
            messages.success(request, _("Sub-account %(login)s created.") % {"login": user.login})
            return redirect("accounts:ram_user", name=user.name)
    listing = page_of(
        request, User.objects.visible_to(request.user, "ram:ListUsers").prefetch_related("groups__ram_group")
    )
    return render(
        request,
        "accounts/ram/users.html",
        {
            "users": list(listing.object_list),
            "page": listing,
            "form": form,
            "tab": "users",
        },
    )


@page(get="ram:GetUser", also=("ram:ListPoliciesForUser", "ram:ListAccessKeys"))
def user_detail(request: HttpRequest, name: str) -> HttpResponse:
    subject = page_object(request, User.objects.all(), name=name)
    context = {
        "subject": subject,
        "tab": "users",
        "groups": RamGroup.objects.filter(auth_group__user=subject),
        "attachments": subject.policy_attachments.select_related("policy"),
        "attach_form": AttachForm(_attachable(request, subject.policy_attachments.all())),
        "reset_form": ResetPasswordForm(),
        "keys": AccessKey.objects.filter(user=subject)
        if may(request.user, "ram:ListAccessKeys", subject.resource_name)
        else None,
        "grants": [g for g in grant_rows(request.user) if g["principal"] == f"user:{subject.name}"],
    }
    return render(request, "accounts/ram/user_detail.html", context)


@page(
    post={
        "disable": "ram:UpdateUser",
        "enable": "ram:UpdateUser",
        "password": "ram:UpdateLoginProfile",
        "attach": "ram:AttachPolicyToUser",
        "detach": "ram:DetachPolicyFromUser",
        "access-key": "ram:CreateAccessKey",
        "delete": "ram:DeleteUser",
    },
    verb="change",
)
def user_change(request: HttpRequest, name: str, change: str) -> HttpResponse:
    subject = page_object(request, User.objects.all(), name=name)
    actor = request.user
    if change == "disable":
        _attempt(request, lambda: ops.update_subaccount(actor, subject, active=False), _("User disabled."))
    elif change == "enable":
        _attempt(request, lambda: ops.update_subaccount(actor, subject, active=True), _("User enabled."))
    elif change == "password":
        form = ResetPasswordForm(request.POST)
        if form.is_valid():
            _attempt(
                request,
                lambda: ops.change_password(
                    actor, subject, form.cleaned_data["password"], current=request.POST.get("current")
                ),
                _("Password set."),
            )
    elif change in ("attach", "detach"):
        _attach_or_detach(request, change, user=subject)
    elif change == "access-key":
        return create_access_key_once(request, subject, reverse("accounts:ram_user", args=[subject.name]))
    elif change == "delete":
        if _attempt(request, lambda: ops.delete_subaccount(actor, subject), _("User deleted.")):
            return redirect("accounts:ram_users")
    return redirect("accounts:ram_user", name=subject.name)


# --- groups ----------------------------------------------------------------------------------------


@page(get="ram:ListGroups", post="ram:CreateGroup", scope={"ram:CreateGroup": every("ram", "group")})
def groups(request: HttpRequest) -> HttpResponse:
    form = GroupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            group = ops.create_group(request.user, **form.cleaned_data)
        except ValidationError as exc:
            refused(form, exc)
        else:
            return redirect("accounts:ram_group", name=group.name)
    listing = page_of(request, RamGroup.objects.visible_to(request.user))
    return render(
        request,
        "accounts/ram/groups.html",
        {"groups": list(listing.object_list), "page": listing, "form": form, "tab": "groups"},
    )


@page(get="ram:GetGroup", also=("ram:ListPoliciesForGroup",))
def group_detail(request: HttpRequest, name: str) -> HttpResponse:
    group = page_object(request, RamGroup.objects.select_related("auth_group"), name=name)
    members = list(group.members)
    candidates = User.objects.filter(tenant_id=request.user.tenant_id).exclude(pk__in=[m.pk for m in members])
    context = {
        "group": group,
        "tab": "groups",
        "members": members,
        "candidates": candidates,
        "attachments": group.policy_attachments.select_related("policy"),
        "attach_form": AttachForm(_attachable(request, group.policy_attachments.all())),
        "rename_form": GroupForm(initial={"name": group.name, "description": group.description}),
        "grants": [g for g in grant_rows(request.user) if g["principal"] == f"group:{group.name}"],
    }
    return render(request, "accounts/ram/group_detail.html", context)


@page(
    post={
        "rename": "ram:UpdateGroup",
        "add": "ram:AddUserToGroup",
        "remove": "ram:RemoveUserFromGroup",
        "attach": "ram:AttachPolicyToGroup",
        "detach": "ram:DetachPolicyFromGroup",
        "delete": "ram:DeleteGroup",
    },
    verb="change",
)
def group_change(request: HttpRequest, name: str, change: str) -> HttpResponse:
    group = page_object(request, RamGroup.objects.select_related("auth_group"), name=name)
    actor = request.user
    member = User.objects.filter(tenant_id=actor.tenant_id, name=request.POST.get("user", "")).first()
    if change == "rename":
        form = GroupForm(request.POST)
        if form.is_valid() and _attempt(
            request, lambda: ops.update_group(actor, group, **form.cleaned_data), _("Group saved.")
        ):
            return redirect("accounts:ram_group", name=group.name)
    elif change in ("add", "remove") and member is None:
        messages.error(request, _("No such user."))
    elif change == "add":
        _attempt(request, lambda: ops.add_member(actor, group, member), _("Member added."))
    elif change == "remove":
        _attempt(request, lambda: ops.remove_member(actor, group, member), _("Member removed."))
    elif change in ("attach", "detach"):
        _attach_or_detach(request, change, group=group)
    elif change == "delete":
        if _attempt(request, lambda: ops.delete_group(actor, group), _("Group deleted.")):
            return redirect("accounts:ram_groups")
    return redirect("accounts:ram_group", name=group.name)


# --- policies --------------------------------------------------------------------------------------


@page(get="ram:ListPolicies", post="ram:CreatePolicy", scope={"ram:CreatePolicy": every("ram", "policy")})
def policies(request: HttpRequest) -> HttpResponse:
    form = PolicyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            pol = ops.create_policy(request.user, **form.cleaned_data)
        except ValidationError as exc:
            refused(form, exc)
        else:
            return redirect("accounts:ram_policy", name=pol.name)
    listing = page_of(request, Policy.objects.visible_to(request.user).prefetch_related("attachments"))
    return render(
        request,
        "accounts/ram/policies.html",
        {"policies": list(listing.object_list), "page": listing, "form": form, "tab": "policies"},
    )


@page(get="ram:GetPolicy", post="ram:CreatePolicyVersion", also=("ram:ListPolicyVersions",))
def policy_detail(request: HttpRequest, name: str) -> HttpResponse:
    pol = page_object(request, POLICIES, name=name)
    form = PolicyVersionForm(request.POST or None, initial={"document": pol.default().document})
    if request.method == "POST" and form.is_valid():
        try:
            ops.add_policy_version(
                request.user, pol, form.cleaned_data["document"], set_default=form.cleaned_data["set_default"]
            )
        except ValidationError as exc:
            refused(form, exc)
        else:
            messages.success(request, _("Version added."))
            return redirect("accounts:ram_policy", name=pol.name)
    context = {
        "policy": pol,
        # What its buttons are decided on: a custom policy of the tenant, by name (as its operations decide).
        "policy_resource": ops.ram_resource(request.user.tenant_id, "policy", pol.name),
        "versions": pol.versions.order_by("-number"),
        "form": form,
        "tab": "policies",
        "attachments": pol.attachments.filter(tenant_id=request.user.tenant_id).select_related("user", "group"),
    }
    return render(request, "accounts/ram/policy_detail.html", context)


@page(
    post={
        "default": "ram:SetDefaultPolicyVersion",
        "delete-version": "ram:DeletePolicyVersion",
        "delete": "ram:DeletePolicy",
    },
    verb="change",
)
def policy_change(request: HttpRequest, name: str, change: str) -> HttpResponse:
    pol = page_object(request, POLICIES, name=name)
    actor = request.user
    try:
        number = int(request.POST.get("version", "0").lstrip("v") or 0)
    except ValueError:
        number = 0
    if change == "default":
        _attempt(request, lambda: ops.set_default_version(actor, pol, number), _("Default version changed."))
    elif change == "delete-version":
        _attempt(request, lambda: ops.delete_policy_version(actor, pol, number), _("Version deleted."))
    elif change == "delete":
        if _attempt(request, lambda: ops.delete_policy(actor, pol), _("Policy deleted.")):
            return redirect("accounts:ram_policies")
    return redirect("accounts:ram_policy", name=pol.name)


# --- authorizations, simulator, settings, catalogue ------------------------------------------------


def tenant_clusters(user: Any) -> Any:
    """The clusters of the user's tenant, where roles are granted: reached through the tenant's relation (clusters
    sit above accounts, which never imports them)."""
    return user.tenant.clusters.all()


@page(
    get="cs:DescribeUserPermissions",
    post="cs:GrantPermissions",
    scope={"cs:GrantPermissions": tenant_clusters},
)
def authorizations(request: HttpRequest) -> HttpResponse:
    """The role grants on the clusters the user may see, and a form to grant a role on one it may grant on."""
    actor = request.user
    principals = [(f"user:{u.name}", u.login) for u in User.objects.filter(tenant_id=actor.tenant_id, is_primary=False)]
    principals += [
        (f"group:{g.name}", _("group %(name)s") % {"name": g.name})
        for g in RamGroup.objects.filter(tenant_id=actor.tenant_id)
    ]
    clusters = [(c.pk, c.name) for c in tenant_clusters(actor).visible_to(actor, "cs:GrantPermissions")]
    form = GrantForm(principals, clusters, request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            cluster = page_object(request, tenant_clusters(actor), pk=form.cleaned_data["cluster"])
            if _attempt(
                request,
                lambda: ops.grant(actor, form.cleaned_data["principal"], cluster, form.cleaned_data["role"]),
                _("Role granted."),
            ):
                return redirect("accounts:ram_authorizations")
    revocable = {row["id"] for row in grant_rows(actor, "cs:RevokePermissions")}  # what authorization_revoke takes
    return render(
        request,
        "accounts/ram/authorizations.html",
        {"grants": grant_rows(actor), "form": form, "tab": "authorizations", "revocable": revocable},
    )


@page(post="cs:RevokePermissions", scope={"cs:RevokePermissions": tenant_clusters})
def authorization_revoke(request: HttpRequest) -> HttpResponse:
    """Remove the grant the form names (``revoke``: its id), on a cluster where the user may revoke grants."""
    actor = request.user
    wanted = request.POST.get("revoke", "")
    row = next((r for r in grant_rows(actor, "cs:RevokePermissions") if r["id"] == wanted), None)
    if row is None:
        permissions.refuse(actor, "cs:RevokePermissions", target=wanted, not_found=True)
    cluster = page_object(request, tenant_clusters(actor), pk=row["cluster"])
    _attempt(request, lambda: ops.revoke(actor, row["principal"], cluster), _("Grant removed."))
    return redirect("accounts:ram_authorizations")


@page(get="ram:SimulatePolicy", post="ram:SimulatePolicy", scope={"ram:SimulatePolicy": every("ram", "user")})
def simulator(request: HttpRequest) -> HttpResponse:
    names = list(User.objects.filter(tenant_id=request.user.tenant_id).values_list("name", flat=True))
    form = SimulatorForm(names, request.POST or None)
    result = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            result = ops.simulate(
                request.user,
                user_name=data["user"],
                action=data["action"],
                resource=data["resource"],
                context=form.context(),
            )
        except ValidationError as exc:
            refused(form, exc)
    return render(request, "accounts/ram/simulator.html", {"form": form, "result": result, "tab": "simulator"})


@page(
    get="ram:SetPasswordPolicy",
    post="ram:SetPasswordPolicy",
    scope={"ram:SetPasswordPolicy": "acs:ram:*:{tenant}:*"},
)
def settings_page(request: HttpRequest) -> HttpResponse:
    tenant = request.user.tenant
    form = PasswordPolicyForm(request.POST or None, instance=tenant)
    if request.method == "POST" and form.is_valid():
        changed = {k: form.cleaned_data[k] for k in form.fields}
        form.instance.refresh_from_db()
        if _attempt(request, lambda: ops.set_password_policy(request.user, **changed), _("Password policy saved.")):
            return redirect("accounts:ram_settings")
    return render(request, "accounts/ram/settings.html", {"form": form, "tab": "settings"})


@page(get="ram:ListActions")
def actions(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/ram/actions.html", {"actions": catalogue(), "tab": "actions"})
