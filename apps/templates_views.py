"""Console pages of the template library: list (own and samples), edit with validation, and deploy:
parameter form → plan → apply."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.models import NAME_VALIDATOR
from apps import library, operations
from apps.models import ConfigSet, Template
from apps.scheduler import PlacementError
from clusters.models import Cluster
from console.pages import every, page, page_object

MAX_COMPOSE_BYTES = 1024 * 1024


class TemplateForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=63, validators=[NAME_VALIDATOR])
    description = forms.CharField(label=gettext_lazy("Description"), max_length=300, required=False)
    compose = forms.CharField(
        label=gettext_lazy("Compose file"),
        max_length=MAX_COMPOSE_BYTES + 1,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false", "class": "code"}),
    )


def _source(request: HttpRequest, kind: str, key: str) -> tuple[str, str, Template | None]:
    """(name, compose text, template row or None for a sample)."""
    if kind == "sample":
        found = library.sample(key)
        if found is None:
            raise Http404
        return found.name, found.compose, None
    template = page_object(request, Template.objects.all(), action="cs:DescribeTemplates", pk=int(key))
    return template.name, template.compose, template


@page(get="cs:DescribeTemplates")
def template_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "apps/template_list.html",
        {"templates": Template.objects.visible_to(request.user), "samples": library.samples()},
    )


@page(
    get="cs:DescribeTemplates",
    post="cs:UpdateTemplate",
    new={"GET": "cs:CreateTemplate", "POST": "cs:CreateTemplate"},
    scope={"cs:CreateTemplate": every("cs", "template")},
)
def template_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    instance = page_object(request, Template.objects.all(), pk=pk) if pk is not None else None
    initial = (
        {"name": instance.name, "description": instance.description, "compose": instance.compose}
        if instance
        else {"compose": (library.sample(request.GET.get("from", "")) or library.samples()[0]).compose}
    )
    form = TemplateForm(request.POST or None, initial=initial)
    graph = None
    if request.method == "POST" and form.is_valid():
        try:
            saved = library.save_template(
                request.user,
                name=form.cleaned_data["name"],
                compose_text=form.cleaned_data["compose"],
                description=form.cleaned_data["description"],
                template=instance,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, _("Template %(name)s saved.") % {"name": saved.name})
            return redirect("apps:template_edit", pk=saved.pk)
    text = form.data.get("compose") if form.is_bound else initial.get("compose", "")
    try:
        graph = library.graph(library.check(text or ""))
    except ValidationError:
        graph = None
    return render(
        request,
        "apps/template_form.html",
        {"form": form, "template": instance, "graph": graph, "parameters": library.parameters(text or "")},
    )


@page(post="cs:DeleteTemplate")
@require_POST
def template_delete(request: HttpRequest, pk: int) -> HttpResponse:
    template = page_object(request, Template.objects.all(), pk=pk)
    library.delete_template(request.user, template)
    messages.success(request, _("Template %(name)s deleted.") % {"name": template.name})
    return redirect("apps:templates")


def deploy_form_class(parameters: list[dict[str, Any]], user: Any) -> type[forms.Form]:
    """A form with the cluster, the application name, a config set, and one field per ${VAR} parameter."""
    fields: dict[str, forms.Field] = {
        "cluster": forms.ModelChoiceField(
            queryset=Cluster.objects.visible_to(user, "cs:CreateApplication"),
            label=gettext_lazy("Cluster"),
            empty_label=None,
        ),
        "app_name": forms.CharField(label=gettext_lazy("Application name"), max_length=63, validators=[NAME_VALIDATOR]),
        "config_set": forms.ModelChoiceField(
            queryset=ConfigSet.objects.visible_to(user, "cs:UseConfigSet"),
            required=False,
            label=gettext_lazy("Config set"),
        ),
    }
    for item in parameters:
        fields[f"var_{item['name']}"] = forms.CharField(
            label=item["name"],
            required=False,
            initial=item["default"] or "",
            help_text=item["message"] or (_("required") if item["required"] else ""),
        )
    return type("DeployForm", (forms.Form,), fields)


@page(
    get="cs:DescribeTemplates",
    post="cs:CreateApplication",
    scope={"cs:CreateApplication": Cluster.objects.all()},
)
def template_deploy(request: HttpRequest, kind: str, key: str) -> HttpResponse:
    """Parameters → plan (what will happen) → apply on confirm."""
    name, text, template = _source(request, kind, key)
    parameters = library.parameters(text)
    form = deploy_form_class(parameters, request.user)(request.POST or None, initial={"app_name": name})
    plan = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        variables = {p["name"]: data[f"var_{p['name']}"] for p in parameters if data.get(f"var_{p['name']}") != ""}
        confirm = request.POST.get("confirm") == "1"
        try:
            result = operations.deploy_compose(
                request.user,
                data["cluster"],
                name=data["app_name"],
                compose=text,
                variables=variables,
                config_set=data["config_set"],
                template=template,
                dry_run=not confirm,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(None, [f"{field}: {e}" for e in errors] if field != "__all__" else errors)
        except PlacementError as exc:
            form.add_error(None, str(exc))
        else:
            if confirm:
                return redirect("apps:detail", pk=result.application_id)
            plan = result
    return render(
        request,
        "apps/template_deploy.html",
        {
            "form": form,
            "source_name": name,
            "kind": kind,
            "key": key,
            "plan": plan,
            "plan_json": json.dumps(plan, indent=1) if plan else "",
            "graph": _graph_or_none(text),
        },
    )


def _graph_or_none(text: str) -> dict[str, Any] | None:
    try:
        return library.graph(library.check(text))
    except ValidationError:
        return None


class ConfigSetForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=63, validators=[NAME_VALIDATOR])
    description = forms.CharField(label=gettext_lazy("Description"), max_length=300, required=False)
    variables = forms.CharField(
        label=gettext_lazy("Variables"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "class": "code"}),
        help_text=gettext_lazy(
            "One NAME=value per line; write secret:NAME=value for a secret (never shown again). "
            "Leave a secret as secret:NAME to keep its value."
        ),
    )

    def parsed(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for number, line in enumerate((self.cleaned_data.get("variables") or "").splitlines(), start=1):
            if not line.strip():
                continue
            secret = line.startswith("secret:")
            body = line[len("secret:") :] if secret else line
            key, sep, value = body.partition("=")
            if not sep and not secret:
                raise ValidationError({"variables": [_("Line %(n)s: use NAME=value.") % {"n": number}]})
            out[key.strip()] = {"value": value if sep else None, "secret": secret}
        return out


@page(
    get="cs:DescribeConfigSets",
    post="cs:UpdateConfigSet",
    new={"POST": "cs:CreateConfigSet"},
    scope={"cs:CreateConfigSet": every("cs", "configset")},
)
def config_sets(request: HttpRequest, name: str | None = None) -> HttpResponse:
    """Config sets: the list, and a form to create one or change the chosen one (listing its applications)."""
    chosen = page_object(request, ConfigSet.objects.all(), name=name) if name else None
    initial = {}
    if chosen is not None:
        shown = library.shown(chosen)
        lines = [f"secret:{k}" if v["secret"] else f"{k}={v['value']}" for k, v in shown.items()]
        initial = {"name": chosen.name, "description": chosen.description, "variables": "\n".join(lines)}
    form = ConfigSetForm(request.POST or None, initial=initial)
    users: list[str] = (
        list(chosen.applications.filter(deleted_at__isnull=True).values_list("name", flat=True)) if chosen else []
    )
    if request.method == "POST" and form.is_valid():
        try:
            saved, users = library.save_config_set(
                request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                variables=form.parsed(),
                config_set=chosen,
            )
            if request.POST.get("redeploy") == "1":
                released = library.redeploy_users(request.user, saved)
                messages.info(request, _("%(n)s application(s) are being updated.") % {"n": len(released)})
            elif users:
                messages.warning(
                    request,
                    _("Saved. Applications using it: %(apps)s. Redeploy them to apply it.")
                    % {"apps": ", ".join(users)},
                )
            else:
                messages.success(request, _("Saved."))
            return redirect("apps:config_set", name=saved.name)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
    return render(
        request,
        "apps/config_sets.html",
        {"sets": ConfigSet.objects.visible_to(request.user), "form": form, "chosen": chosen, "users": users},
    )
