"""Forms of sign-in and first-run setup."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.models import NAME_VALIDATOR, USERNAME_VALIDATOR, Tenant


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
            try:
                validate_password(data["password"])
            except ValidationError as exc:
                self.add_error("password", exc)
        return data


class LoginForm(forms.Form):
    """``name@tenant-alias`` (or a primary account's name) and password."""

    login = forms.CharField(label=_("User name"), max_length=130, help_text=_("Sub-accounts: name@tenant-alias."))
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput, strip=False)

    def __init__(self, request: Any, *args: Any, **kwargs: Any) -> None:
        self.request = request
        self.user: Any = None
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("login") and data.get("password"):
            self.user = authenticate(self.request, username=data["login"], password=data["password"])
            if self.user is None:
                raise ValidationError(_("Wrong user name or password."))
        return data
