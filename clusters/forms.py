"""Console forms of clusters and nodes."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.models import NAME_VALIDATOR
from clusters.models import Cluster
from clusters.workload import workload


def _words(text: str) -> list[str]:
    return [w for w in (text or "").replace(",", " ").split() if w]


def parse_labels(text: str) -> dict[str, str]:
    """``key=value`` lines to a dict."""
    labels: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.strip().partition("=")
        if not sep:
            raise ValidationError(_("Line %(n)s: use key=value.") % {"n": number})
        labels[key.strip()] = value.strip()
    return labels


class ClusterForm(forms.Form):
    """A cluster's name, region, zones and root domain, and whether its logging and monitoring services collect the
    containers' output and figures. Routing has its own page; the volumes service has no control here: nothing uses
    it yet, and a control that does nothing is not shown."""

    name = forms.CharField(label=_("Cluster name"), max_length=63, validators=[NAME_VALIDATOR])
    region = forms.CharField(label=_("Region"), max_length=63, initial="local")
    zones = forms.CharField(label=_("Zones"), required=False, help_text=_("Names separated by spaces, e.g. a b c."))
    root_domain = forms.CharField(
        label=_("Root domain"),
        max_length=253,
        required=False,
        help_text=_("Routing gives applications names under this domain."),
    )
    network_mode = forms.ChoiceField(
        label=_("Network mode"),
        choices=Cluster.NetworkMode.choices,
        required=False,
        initial=Cluster.NetworkMode.OVERLAY,
        help_text=_("Changes only while the cluster has no application."),
    )
    network_pool = forms.CharField(
        label=_("Address pool"),
        max_length=43,
        required=False,
        initial=settings.BERTH_NETWORK_POOL,
        help_text=_("Private IPv4 range of the cluster network (each network takes a /24); fixed once a node joined."),
    )

    logging = forms.BooleanField(
        label=_("Collect logs"),
        required=False,
        initial=True,
        help_text=_("The logging service: every container's output is collected, searchable and kept after it goes."),
    )

    monitoring = forms.BooleanField(
        label=_("Collect metrics"),
        required=False,
        initial=True,
        help_text=_("The monitoring service: containers' and nodes' CPU, memory, network and disk, as charts."),
    )

    def __init__(self, *args: Any, cluster: Cluster | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cluster = cluster
        if cluster is None:
            return
        # What can no longer change is shown, not offered: the pool once the swarm took addresses from it, the mode
        # while applications run on the nodes' networks (clusters.operations says the same when asked anyway).
        if any(n.network_state in ("manager", "worker") for n in cluster.nodes.live()):
            self.fields["network_pool"].disabled = True
            self.fields["network_pool"].help_text = _("Fixed: the cluster network exists on the nodes.")
        if workload().applications_of(cluster):
            self.fields["network_mode"].disabled = True
            self.fields["network_mode"].help_text = _("Fixed while the cluster has applications.")

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "region": data["region"],
            "zones": _words(data.get("zones", "")),
            "root_domain": data.get("root_domain", ""),
            **({"network_mode": data["network_mode"]} if data.get("network_mode") else {}),
            **({"network_pool": data["network_pool"].strip()} if data.get("network_pool", "").strip() else {}),
            "system_services": {
                **((self.cluster.system_services or {}) if self.cluster is not None else {}),
                "logging": bool(data.get("logging")),
                "monitoring": bool(data.get("monitoring")),
            },
        }


class RegisterNodeForm(forms.Form):
    name = forms.CharField(label=_("Node name"), max_length=63, validators=[NAME_VALIDATOR])
    endpoint = forms.CharField(
        label=_("Docker endpoint"), max_length=255, help_text=_("unix:///var/run/docker.sock or tcp://host:2376")
    )
    publish_ip = forms.GenericIPAddressField(label=_("Address for published ports"))
    zone = forms.CharField(label=_("Zone"), max_length=63, required=False)
    tls_ca = forms.CharField(label=_("CA certificate (PEM)"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    tls_cert = forms.CharField(
        label=_("Client certificate (PEM)"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    tls_key = forms.CharField(
        label=_("Client key (PEM)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Stored encrypted; never shown again."),
    )


class ProvisionForm(forms.Form):
    name = forms.CharField(label=_("Node name"), max_length=63, validators=[NAME_VALIDATOR])
    provider = forms.ChoiceField(label=_("Provider"), choices=[("local", _("local (a new engine on this machine)"))])
    zone = forms.CharField(label=_("Zone"), max_length=63, required=False)


class NodeEditForm(forms.Form):
    zone = forms.CharField(label=_("Zone"), max_length=63, required=False)
    labels = forms.CharField(
        label=_("Labels"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One key=value per line; constraints in templates match them."),
    )

    def clean_labels(self) -> dict[str, str]:
        return parse_labels(self.cleaned_data.get("labels", ""))


class RegistryCredentialForm(forms.Form):
    registry = forms.CharField(
        label=_("Registry"), max_length=255, help_text=_("Host name and port, e.g. registry.example.com:5000")
    )
    username = forms.CharField(label=_("User name"), max_length=255)
    password = forms.CharField(
        label=_("Password or token"),
        max_length=4096,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Stored encrypted; never shown again. Used only for pulls on this tenant's nodes."),
    )
