"""Console pages of the template library: list, create, edit, delete (Compose text, checked on save)."""

from __future__ import annotations

from typing import Any

import yaml
from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.models import NAME_VALIDATOR
from accounts.permissions import authorize, authorize_tenant
from apps.models import Template
from console import audit
from console.pages import page

MAX_COMPOSE_BYTES = 1024 * 1024


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML loading that refuses duplicate keys and caps alias expansion (no billion laughs)."""

    aliases_seen = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            self.aliases_seen += 1
            if self.aliases_seen > 100:
                raise yaml.YAMLError(_("too many YAML aliases"))
        return super().compose_node(parent, index)


def check_compose_text(text: str) -> None:
    """Refuse what is not a Compose file at all: too large, not YAML, not a mapping with services."""
    if len(text.encode()) > MAX_COMPOSE_BYTES:
        raise ValidationError(_("The file is larger than 1 MB."))
    try:
        data = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ValidationError(_("Not valid YAML: %(reason)s") % {"reason": exc}) from exc
    if not isinstance(data, dict):
        raise ValidationError(_("A Compose file is a mapping at the top level."))
    services = data.get("services", data if "version" not in data else None)
    if not isinstance(services, dict) or not services:
        raise ValidationError(_("The file defines no services."))


class TemplateForm(forms.ModelForm):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=63, validators=[NAME_VALIDATOR])

    class Meta:
        model = Template
        fields = ["name", "description", "compose"]
        widgets = {"compose": forms.Textarea(attrs={"rows": 18, "spellcheck": "false", "class": "code"})}

    def __init__(self, tenant: Any, *args: Any, **kwargs: Any) -> None:
        self.tenant = tenant
        super().__init__(*args, **kwargs)

    def clean_compose(self) -> str:
        text = self.cleaned_data["compose"]
        check_compose_text(text)
        return text

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        others = Template.objects.filter(tenant=self.tenant, name=name).exclude(pk=self.instance.pk)
        if others.exists():
            raise ValidationError(_("A template with this name already exists."))
        return name


@page("cs:DescribeTemplates")
def template_list(request: HttpRequest) -> HttpResponse:
    templates = Template.objects.visible_to(request.user)
    return render(request, "apps/template_list.html", {"templates": templates})


@page("cs:DescribeTemplates", "cs:CreateTemplate", "cs:UpdateTemplate")
def template_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    instance = None
    if pk is not None:
        instance = get_object_or_404(Template.objects.visible_to(request.user), pk=pk)
        action = "cs:UpdateTemplate"
    else:
        action = "cs:CreateTemplate"
    form = TemplateForm(request.user.tenant, request.POST or None, instance=instance)
    if request.method == "POST":
        if instance is not None:
            authorize(request.user, action, instance)
        else:
            authorize_tenant(request.user, action)
        if form.is_valid():
            template = form.save(commit=False)
            template.tenant = request.user.tenant
            template.created_by = template.created_by or request.user
            template.save()
            audit.record(
                action,
                actor=request.user,
                resource=f"acs:cs:*:{template.tenant_id}:template/{template.name}",
                target=template.name,
            )
            messages.success(request, _("Template %(name)s saved.") % {"name": template.name})
            return redirect("apps:templates")
    return render(request, "apps/template_form.html", {"form": form, "template": instance})


@page("cs:DeleteTemplate")
@require_POST
def template_delete(request: HttpRequest, pk: int) -> HttpResponse:
    template = get_object_or_404(Template.objects.visible_to(request.user), pk=pk)
    authorize(request.user, "cs:DeleteTemplate", template)
    name = template.name
    template.delete()
    audit.record(
        "cs:DeleteTemplate",
        actor=request.user,
        resource=f"acs:cs:*:{request.user.tenant_id}:template/{name}",
        target=name,
    )
    messages.success(request, _("Template %(name)s deleted.") % {"name": name})
    return redirect("apps:templates")
