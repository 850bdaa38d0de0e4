"""Forms of sign-in, first-run setup, one's own account, and RAM administration."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.models import NAME_VALIDATOR, USERNAME_VALIDATOR, Tenant
from accounts.roles import ROLES


class SetupForm(forms.Form):
    """The first tenant and its primary account."""

    tenant_name = forms.CharField(label=_("Organisation name"), max_length=100)
    alias = forms.CharField(
        label=_("Tenant alias"),
        max_length=63,
        validators=[NAME_VALIDATOR],
        help_text=_("Sub-accounts sign in as name@alias."),
    )
    admin = forms.CharField(label=_("Administrator user name"), max_length=64, validators=[USERNAME_VALIDATOR])
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label=_("Password again"), widget=forms.PasswordInput, strip=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password2"):
            self.add_error("password2", _("The passwords differ."))
        if data.get("alias") and Tenant.objects.filter(alias=data["alias"]).exists():
            self.add_error("alias", _("A tenant with this alias already exists."))
        if data.get("password"):
            from accounts.operations import check_password

            try:
                check_password(Tenant(alias=data.get("alias") or "x"), data["password"])
            except ValidationError as exc:
                self.add_error("password", exc.message_dict.get("password", exc.messages))
        return data


class LoginForm(forms.Form):
    """``name@tenant-alias`` (or name and tenant, or a primary account's name) and password."""

    login = forms.CharField(label=_("User name"), max_length=130, help_text=_("Sub-accounts: name@tenant-alias."))
    tenant = forms.CharField(
        label=_("Tenant alias"),
        max_length=63,
        required=False,
        help_text=_("Optional, instead of @alias in the user name."),
    )
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput, strip=False)
    next = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, request: Any, *args: Any, **kwargs: Any) -> None:
        self.request = request
        self.user: Any = None
        super().__init__(*args, **kwargs)

    def login_name(self) -> str:
        """The login as typed, completed with the tenant alias when one was chosen."""
        raw = (self.data.get("login") or "").strip()
        tenant = (self.data.get("tenant") or "").strip()
        return f"{raw}@{tenant}" if tenant and "@" not in raw else raw

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("login") and data.get("password"):
            self.user = authenticate(self.request, username=self.login_name(), password=data["password"])
            if self.user is None:
                raise ValidationError(_("Wrong user name or password."))
        return data


class MfaForm(forms.Form):
    code = forms.RegexField(
        label=_("MFA code"),
        regex=r"^\d{6}$",
        max_length=6,
        error_messages={"invalid": _("Six digits from your authenticator app.")},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class PasswordChangeForm(forms.Form):
    current = forms.CharField(label=_("Current password"), widget=forms.PasswordInput, strip=False)
    password = forms.CharField(label=_("New password"), widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label=_("New password again"), widget=forms.PasswordInput, strip=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password2"):
            self.add_error("password2", _("The passwords differ."))
        return data


class SubAccountForm(forms.Form):
    name = forms.CharField(label=_("User name"), max_length=64, validators=[USERNAME_VALIDATOR])
    display_name = forms.CharField(label=_("Display name"), max_length=100, required=False)
    password = forms.CharField(label=_("Console password"), widget=forms.PasswordInput, strip=False)


class ResetPasswordForm(forms.Form):
    password = forms.CharField(label=_("New console password"), widget=forms.PasswordInput, strip=False)


class GroupForm(forms.Form):
    name = forms.CharField(label=_("Group name"), max_length=64, validators=[USERNAME_VALIDATOR])
    description = forms.CharField(label=_("Description"), max_length=300, required=False)


class PolicyDocumentField(forms.CharField):
    """A JSON policy document typed into a text area."""

    widget = forms.Textarea(attrs={"rows": 14, "class": "code", "spellcheck": "false"})

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                _("Not valid JSON (line %(line)s, column %(col)s): %(msg)s")
                % {"line": exc.lineno, "col": exc.colno, "msg": exc.msg}
            ) from exc

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict | list):
            return json.dumps(value, indent=2)
        return value


EXAMPLE_POLICY = {
    "Version": "1",
    "Statement": [{"Effect": "Allow", "Action": ["cs:Describe*", "cs:List*"], "Resource": "*"}],
}


class PolicyForm(forms.Form):
    name = forms.CharField(label=_("Policy name"), max_length=128, validators=[USERNAME_VALIDATOR])
    description = forms.CharField(label=_("Description"), max_length=300, required=False)
    document = PolicyDocumentField(label=_("Policy document"), initial=EXAMPLE_POLICY)


class PolicyVersionForm(forms.Form):
    document = PolicyDocumentField(label=_("New version"))
    set_default = forms.BooleanField(label=_("Make it the default version"), required=False, initial=True)


class AttachForm(forms.Form):
    policy = forms.ChoiceField(label=_("Policy"))

    def __init__(self, policies: list[str], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["policy"].choices = [(p, p) for p in policies]


class GrantForm(forms.Form):
    principal = forms.ChoiceField(label=_("User or group"))
    cluster = forms.ChoiceField(label=_("Cluster"))
    role = forms.ChoiceField(label=_("Role"), choices=[(slug, role.label) for slug, role in ROLES.items()])

    def __init__(
        self, principals: list[tuple[str, str]], clusters: list[tuple[int, str]], *args: Any, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["principal"].choices = principals
        self.fields["cluster"].choices = clusters


class SimulatorForm(forms.Form):
    user = forms.ChoiceField(label=_("User"))
    action = forms.CharField(label=_("Action"), max_length=128, initial="cs:DeleteApplication")
    resource = forms.CharField(label=_("Resource"), max_length=512, initial="acs:cs:*:*:cluster/1")
    source_ip = forms.GenericIPAddressField(label=_("Source IP (acs:SourceIp)"), required=False)
    mfa = forms.BooleanField(label=_("MFA present (acs:MFAPresent)"), required=False)
    secure = forms.BooleanField(label=_("Secure transport (acs:SecureTransport)"), required=False)

    def __init__(self, users: list[str], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].choices = [(u, u) for u in users]

    def context(self) -> dict[str, Any]:
        data = self.cleaned_data
        ctx: dict[str, Any] = {"acs:MFAPresent": data["mfa"], "acs:SecureTransport": data["secure"]}
        if data.get("source_ip"):
            ctx["acs:SourceIp"] = data["source_ip"]
        return ctx


class PasswordPolicyForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = [
            "password_min_length",
            "password_require_upper",
            "password_require_lower",
            "password_require_digit",
            "password_require_symbol",
        ]

    def clean_password_min_length(self) -> int:
        value = self.cleaned_data["password_min_length"]
        if not 6 <= value <= 64:
            raise ValidationError(_("Choose a length from 6 to 64."))
        return value
