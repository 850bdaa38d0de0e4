"""Console forms of the routing service."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from routing import tls


class SecretTextarea(forms.Textarea):
    """A text area that never shows its value back (a private key stays out of the page after an error)."""

    def format_value(self, value: Any) -> None:
        return None


class ChainTextarea(forms.Textarea):
    """The certificate chain's text area: shown back after an error, unless a private key was pasted into it."""

    def format_value(self, value: Any) -> str | None:
        text = super().format_value(value)
        return None if text and "PRIVATE KEY" in text else text


class CertificateForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=63, help_text=_("Lower-case letters, digits, '.', '_' and '-', e.g. www-example")
    )
    certificate = forms.CharField(
        label=_("Certificate chain (PEM)"),
        max_length=tls.MAX_PEM,
        strip=False,
        widget=ChainTextarea(attrs={"rows": 6, "spellcheck": "false", "placeholder": "-----BEGIN CERTIFICATE-----"}),
        help_text=_("The server's certificate first, then its intermediates."),
    )
    key = forms.CharField(
        label=_("Private key (PEM)"),
        max_length=tls.MAX_PEM,
        strip=False,
        widget=SecretTextarea(
            attrs={
                "rows": 6,
                "spellcheck": "false",
                "autocomplete": "off",
                "placeholder": "-----BEGIN PRIVATE KEY-----",
            }
        ),
        help_text=_("Unencrypted. Stored encrypted; never shown again."),
    )
