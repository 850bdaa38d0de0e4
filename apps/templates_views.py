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
from accounts.pages import every, page, page_object, with_resources
from apps import library, operations
from apps.models import ConfigSet, Template
from apps.scheduler import PlacementError
from clusters.models import Cluster
from console.audit import SECRET_KEY_PATTERN
from console.forms import refused
from console.paging import page_of

MAX_COMPOSE_BYTES = 1024 * 1024


STARTER = """services:
  web:
    image: local/busybox:1
    command: ["sleep", "3600"]
"""
"""What the empty editor shows as its placeholder: the smallest template (typed text replaces it)."""


class TemplateForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=63, validators=[NAME_VALIDATOR])
    description = forms.CharField(label=gettext_lazy("Description"), max_length=300, required=False)
    compose = forms.CharField(
        label=gettext_lazy("Compose file"),
        max_length=MAX_COMPOSE_BYTES + 1,
        strip=False,
        help_text=gettext_lazy(
            "Docker Compose with aliyun.* labels; ${NAME} or ${NAME:-default} makes a parameter the deploy form asks "
            "for. The services and parameters below follow what you type."
        ),
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false", "class": "code", "placeholder": STARTER}),
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
    listing = page_of(request, Template.objects.visible_to(request.user))
    return render(
        request,
        "apps/template_list.html",
        {"templates": with_resources(list(listing.object_list)), "samples": library.samples(), "page": listing},
    )


@page(
    get="cs:DescribeTemplates",
    post="cs:UpdateTemplate",
    new={"GET": "cs:CreateTemplate", "POST": "cs:CreateTemplate"},
    scope={"cs:CreateTemplate": every("cs", "template")},
)
def template_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    instance = page_object(request, Template.objects.all(), pk=pk) if pk is not None else None
    copied = library.sample(request.GET.get("from", "")) if instance is None else None
    if instance is not None:
        initial = {"name": instance.name, "description": instance.description, "compose": instance.compose}
    else:  # a copy of the sample asked for, or an empty editor (its placeholder shows the smallest template)
        initial = {"name": copied.name, "compose": copied.compose} if copied else {}
    form = TemplateForm(request.POST or None, initial=initial)
    graph = None
    if request.method == "POST" and form.is_valid():
        fields = {k: form.cleaned_data[k] for k in ("name", "description")}
        text = form.cleaned_data["compose"]
        try:
            if instance is None:
                saved = library.create_template(request.user, compose_text=text, **fields)
            else:
                saved = library.update_template(request.user, instance, compose_text=text, **fields)
        except ValidationError as exc:
            refused(form, exc)
        else:
            messages.success(request, _("Template %(name)s saved.") % {"name": saved.name})
            return redirect("apps:template_edit", pk=saved.pk)
    text = form.data.get("compose") if form.is_bound else initial.get("compose", "")
    graph = _graph_or_none(text) if text else None
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
        secret = bool(SECRET_KEY_PATTERN.search(item["name"]))  # DB_PASSWORD, API_TOKEN…: typed unseen
        fields[f"var_{item['name']}"] = forms.CharField(
            label=item["name"],
            required=False,
            initial=item["default"] or "",
            help_text=item["message"] or (_("required") if item["required"] else ""),
            widget=forms.PasswordInput(render_value=True, attrs={"autocomplete": "off"}) if secret else None,
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
            "no_cluster": not form.fields["cluster"].queryset.exists(),  # say so rather than show a dead form
            "clusters_seen": Cluster.objects.visible_to(request.user).exists,  # asked only when no_cluster
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
    users: list[str] = library.users_of(chosen) if chosen else []
    if request.method == "POST" and form.is_valid():
        fields = {"name": form.cleaned_data["name"], "description": form.cleaned_data["description"]}
        try:
            if chosen is None:
                saved, users = library.create_config_set(request.user, variables=form.parsed(), **fields)
            else:
                saved, users = library.update_config_set(request.user, chosen, variables=form.parsed(), **fields)
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
            refused(form, exc)
    listing = page_of(request, ConfigSet.objects.visible_to(request.user))
    return render(
        request,
        "apps/config_sets.html",
        {"page": listing, "sets": listing.object_list, "form": form, "chosen": chosen, "users": users},
    )


@page(post="cs:DeleteConfigSet")
@require_POST
def config_set_delete(request: HttpRequest, name: str) -> HttpResponse:
    """Delete a config set (refused while applications use it: the page says which)."""
    chosen = page_object(request, ConfigSet.objects.all(), name=name)
    try:
        library.delete_config_set(request.user, chosen)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("apps:config_set", name=chosen.name)
    messages.success(request, _("Config set %(name)s deleted.") % {"name": chosen.name})
    return redirect("apps:config_sets")
