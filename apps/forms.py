"""The console form to deploy an application from one image."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from accounts.models import NAME_VALIDATOR
from apps.image_spec import IMAGE_RE, ImageAppSpec
from apps.models import MAX_SCALE
from apps.operations import parse_environment
from clusters.models import Cluster

IMAGE_VALIDATOR = RegexValidator(IMAGE_RE, _("Not a valid image reference (for example nginx:1.25)."))


class ImageApplicationForm(forms.Form):
    """Name, image, command, number of containers, environment, one published port."""

    cluster = forms.ModelChoiceField(queryset=Cluster.objects.none(), label=_("Cluster"), empty_label=None)
    name = forms.CharField(
        label=_("Application name"),
        max_length=63,
        validators=[NAME_VALIDATOR],
        help_text=_("Lower-case letters, digits and hyphens (a DNS label)."),
    )
    image = forms.CharField(
        label=_("Image"), max_length=255, validators=[IMAGE_VALIDATOR], help_text=_("For example local/busybox:1")
    )
    command = forms.CharField(
        label=_("Command"), required=False, max_length=4000, help_text=_("Leave empty for the image's own command.")
    )
    scale = forms.IntegerField(label=_("Containers"), min_value=1, max_value=MAX_SCALE, initial=1)
    environment = forms.CharField(
        label=_("Environment"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One KEY=VALUE per line."),
    )
    container_port = forms.IntegerField(label=_("Container port"), required=False, min_value=1, max_value=65535)
    host_port = forms.IntegerField(
        label=_("Host port"),
        required=False,
        min_value=1,
        max_value=65535,
        help_text=_("Empty: the engine chooses a free port for each container."),
    )

    def __init__(self, user: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["cluster"].queryset = Cluster.objects.visible_to(user, "cs:CreateApplication")

    def clean_environment(self) -> dict[str, str]:
        try:
            return parse_environment(self.cleaned_data.get("environment") or "")
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["environment"]) from exc

    def spec(self) -> ImageAppSpec:
        data = self.cleaned_data
        return ImageAppSpec(
            name=data["name"],
            image=data["image"],
            command=data.get("command") or "",
            scale=data["scale"],
            environment=data.get("environment") or {},
            container_port=data.get("container_port"),
            host_port=data.get("host_port"),
        )


class UpdateForm(forms.Form):
    """A Compose application's next template text and variables (the update page)."""

    compose = forms.CharField(
        label=_("Compose file"), strip=False, widget=forms.Textarea(attrs={"rows": 16, "class": "code"})
    )
    variables = forms.CharField(
        label=_("Variables"),
        required=False,
        help_text=_("One NAME=value per line."),
        widget=forms.Textarea(attrs={"rows": 4, "class": "code"}),
    )
    strategy = forms.ChoiceField(
        label=_("Release as"),
        choices=[
            ("rolling", _("Rolling update: batch by batch, each healthy before the next (deploy.update_config)")),
            ("blue-green", _("Blue-green: the new version beside the old one; you shift the traffic, then confirm")),
            ("canary", _("Canary: the traffic shifts in steps, each judged from the routers' 5xx and latency")),
        ],
        initial="rolling",
        required=False,  # a form that does not say (a script's POST) updates rolling
        widget=forms.RadioSelect,
    )
    canary_steps = forms.CharField(
        label=_("Canary steps (percent of the traffic)"),
        required=False,
        initial="10, 25, 50, 100",
        help_text=_("Rising, ending at 100. Each step is held, then judged against the old version."),
    )
    canary_hold = forms.IntegerField(
        label=_("Seconds each step is held"), required=False, initial=60, min_value=5, max_value=3600
    )

    def canary(self) -> dict[str, Any] | None:
        """The canary settings the form gives (None unless the strategy is canary)."""
        if self.cleaned_data.get("strategy") != "canary":
            return None
        settings: dict[str, Any] = {}
        text = (self.cleaned_data.get("canary_steps") or "").replace(" ", "")
        if text:
            parts = text.split(",")
            if not all(p.isdigit() for p in parts):
                raise ValidationError(
                    {"canary_steps": [_("Whole percentages separated by commas, such as 10, 50, 100.")]}
                )
            settings["steps"] = [int(p) for p in parts]
        if self.cleaned_data.get("canary_hold") is not None:
            settings["hold_seconds"] = self.cleaned_data["canary_hold"]
        return settings
