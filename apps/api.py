"""REST API of applications and releases (/api/v1)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps import library, operations, stacks
from apps.disclosure import Disclosure
from apps.models import Application, ConfigSet, Release, Service, Template
from apps.serializers import (
    ApplicationSerializer,
    ComposeApplicationCreateSerializer,
    ComposeUpdateSerializer,
    ConfigSetBody,
    ConfigSetSerializer,
    ImageApplicationCreateSerializer,
    ReleaseSerializer,
    RollbackSerializer,
    ScaleSerializer,
    TemplateBody,
    TemplateSerializer,
    ValidateBody,
    VersionSerializer,
)
from clusters.models import Cluster, Node
from console.api import BerthAPIView, Chained, ListEndpoint, refused
from console.api import strict_data as _strict

DRY_RUN = OpenApiParameter(
    "dry_run",
    bool,
    description="true: answer 200 with the plan (the same checks and refusals as the change itself) and change "
    "nothing: no application, release, container or operation-log entry.",
)
PLAN = OpenApiResponse(description="The plan (``?dry_run=true``): nothing was changed.")


def _config_set(request: Request, name: str | None) -> ConfigSet | None:
    if not name:
        return None
    found = ConfigSet.objects.visible_to(request.user).filter(name=name).first()
    if found is None:
        raise serializers.ValidationError({"config_set": ["Unknown config set."]})
    return found


def _cluster(request: Request, cluster_id: int) -> Cluster:
    return get_object_or_404(Cluster.objects.visible_to(request.user), pk=cluster_id)


def _applications(request: Request, cluster_id: int) -> QuerySet[Application]:
    """The live applications of the cluster the caller may see (404 when it may not see the cluster)."""
    cluster = _cluster(request, cluster_id)
    return Application.objects.visible_to(request.user).filter(cluster=cluster, deleted_at__isnull=True)


def _application(request: Request, cluster_id: int, name: str) -> Application:
    return get_object_or_404(_applications(request, cluster_id).select_related("cluster", "tenant"), name=name)


def with_details(applications: QuerySet[Application]) -> QuerySet[Application]:
    """Applications with what their API shape shows, loaded in a fixed number of queries for any number of them:
    the cluster and config set, services with containers and nodes, and the latest release only."""
    latest = Release.objects.filter(application=OuterRef("application_id")).order_by("-id").values("id")[:1]
    return (
        applications.select_related("cluster", "tenant", "config_set")
        .defer(*(f"cluster__{name}" for name in _CLUSTER_UNSHOWN))
        .prefetch_related(
            Prefetch("services", queryset=Service.objects.defer("spec", "rules", "depends_on")),
            "services__containers",
            Prefetch("services__containers__node", queryset=Node.objects.only("pk", "name", "publish_ip")),
            Prefetch("releases", queryset=Release.objects.filter(id=Subquery(latest)), to_attr="latest_releases"),
        )
    )


_CLUSTER_UNSHOWN = ("ca_cert", "ca_key_sealed", "client_cert", "client_key_sealed", "security_policy")
"""What an application's shape never reads of its cluster (certificates and keys): not loaded with each row."""


def application_shapes(user: Any, apps: list[Application]) -> list[dict[str, Any]]:
    """The API shapes of ``apps`` (loaded by ``with_details``), shown as ``user`` may read them."""
    return ApplicationSerializer(apps, many=True, context={"disclosure": Disclosure.of(user, apps)}).data


class ApplicationListView(ListEndpoint, BerthAPIView):
    """``GET`` lists the cluster's applications (a page: ``limit``, ``offset``); ``POST`` deploys one from an image
    (202 with the release)."""

    action_map = {"GET": "cs:DescribeApplications", "POST": "cs:CreateApplication"}
    plans = ("POST",)

    @extend_schema(responses=ApplicationSerializer(many=True), operation_id="applications_list")
    def get(self, request: Request, cluster_id: int) -> Response:
        apps = with_details(_applications(request, cluster_id))
        return self.paginated(apps, lambda page: application_shapes(request.user, page))

    @extend_schema(
        request=PolymorphicProxySerializer(
            "ApplicationCreate",
            serializers=[ImageApplicationCreateSerializer, ComposeApplicationCreateSerializer],
            resource_type_field_name=None,
        ),
        parameters=[DRY_RUN],
        responses={202: ReleaseSerializer, 200: PLAN},
        operation_id="applications_create",
    )
    def post(self, request: Request, cluster_id: int) -> Response:
        cluster = _cluster(request, cluster_id)
        dry_run = self.dry_run
        if isinstance(request.data, dict) and ("compose" in request.data or "template" in request.data):
            data = _strict(ComposeApplicationCreateSerializer, request.data)
            template = None
            text = data.get("compose", "")
            if data.get("template"):
                template = Template.objects.visible_to(request.user).filter(name=data["template"]).first()
                if template is None:
                    raise serializers.ValidationError({"template": ["Unknown template."]})
                text = template.compose
            if not text:
                raise serializers.ValidationError({"compose": ["Give the Compose text or a template name."]})
            config_set = _config_set(request, data.get("config_set"))
            result = operations.deploy_compose(
                request.user,
                cluster,
                name=data["name"],
                compose=text,
                variables=data.get("variables") or {},
                config_set=config_set,
                template=template,
                description=data.get("description", ""),
                dry_run=dry_run,
            )
            if dry_run:
                return Response(result)
            return Response(ReleaseSerializer(result).data, status=status.HTTP_202_ACCEPTED)
        data = _strict(ImageApplicationCreateSerializer, request.data)
        result = operations.deploy_application(request.user, cluster, operations.ImageAppSpec(**data), dry_run=dry_run)
        if dry_run:
            return Response(result)
        return Response(ReleaseSerializer(result).data, status=status.HTTP_202_ACCEPTED)


class ApplicationDetailView(BerthAPIView):
    """``GET`` an application with services and containers; ``PATCH`` updates it to a new version
    (``{"compose", "variables"}``; ``?dry_run=true`` returns the plan); ``DELETE [?volumes=remove]``."""

    action_map = {"GET": "cs:DescribeApplications", "PATCH": "cs:UpdateApplication", "DELETE": "cs:DeleteApplication"}
    plans = ("PATCH",)

    @extend_schema(
        request=ComposeUpdateSerializer,
        parameters=[DRY_RUN],
        responses={202: ReleaseSerializer, 200: PLAN},
        operation_id="applications_update",
    )
    def patch(self, request: Request, cluster_id: int, name: str) -> Response:
        app = _application(request, cluster_id, name)
        data = _strict(ComposeUpdateSerializer, request.data)
        result = operations.update_application(
            request.user,
            app,
            compose=data.get("compose"),
            variables=data.get("variables"),
            dry_run=self.dry_run,
            strategy=data.get("strategy") or "rolling",
            canary=data.get("canary"),
        )
        if self.dry_run:
            return Response(result)
        return Response(ReleaseSerializer(result).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=ApplicationSerializer, operation_id="applications_retrieve")
    def get(self, request: Request, cluster_id: int, name: str) -> Response:
        app = get_object_or_404(with_details(_applications(request, cluster_id)), name=name)
        return Response(application_shapes(request.user, [app])[0])

    @extend_schema(responses={202: ReleaseSerializer}, operation_id="applications_destroy")
    def delete(self, request: Request, cluster_id: int, name: str) -> Response:
        release = operations.delete_application_with(
            request.user,
            _application(request, cluster_id, name),
            remove_volumes=request.query_params.get("volumes") == "remove",
        )
        return Response(ReleaseSerializer(release).data, status=status.HTTP_202_ACCEPTED)


class ApplicationActionView(BerthAPIView):
    """``POST .../start|stop|restart``: 202 with the release to poll."""

    action_name = ""
    ACTIONS: dict[str, Any] = {
        "start": operations.start_application,
        "stop": operations.stop_application,
        "restart": operations.restart_application,
        "kill": operations.kill_application,
        "redeploy": operations.redeploy_application,
    }
    request_bodies: dict[str, Any] = {"rollback": RollbackSerializer}  # the others take no body

    @extend_schema(responses={202: ReleaseSerializer})
    def post(self, request: Request, cluster_id: int, name: str) -> Response:
        app = _application(request, cluster_id, name)
        if self.action_name == "rollback":
            data = _strict(RollbackSerializer, request.data if isinstance(request.data, dict) else {})
            release = operations.rollback_application(request.user, app, data.get("version"))
        else:
            release = self.ACTIONS[self.action_name](request.user, app)
        return Response(ReleaseSerializer(release).data, status=status.HTTP_202_ACCEPTED)


class ScaleView(BerthAPIView):
    """``POST .../{name}/services/{service}/scale`` with ``{"scale": N}``."""

    action_map = {"POST": "cs:ScaleService"}

    @extend_schema(
        request=ScaleSerializer,
        responses={
            202: ReleaseSerializer,
            400: refused(
                "Also: the application has no such service, the service is global, or the cluster's policy "
                "refuses its spec."
            ),
        },
        operation_id="services_scale",
    )
    def post(self, request: Request, cluster_id: int, name: str, service: str) -> Response:
        data = _strict(ScaleSerializer, request.data)
        release = operations.scale_service(
            request.user, _application(request, cluster_id, name), service, data["scale"]
        )
        return Response(ReleaseSerializer(release).data, status=status.HTTP_202_ACCEPTED)


class VersionsView(ListEndpoint, BerthAPIView):
    """``GET .../{name}/versions``: the versions, newest first (digests, notes; the template text and the variables'
    values only to callers who may change the application, config-set secret values never)."""

    action_map = {"GET": "cs:DescribeApplications"}

    @extend_schema(responses=VersionSerializer(many=True), operation_id="applications_versions")
    def get(self, request: Request, cluster_id: int, name: str) -> Response:
        app = _application(request, cluster_id, name)
        shown = Disclosure.of(request.user, [app])

        def shapes(versions: list[Any]) -> list[dict[str, Any]]:
            rows = [
                {
                    "version": version.number,
                    "current": version.number == app.version,
                    "note": version.note,
                    "compose": shown.template_text(app.pk, version.compose),
                    "digests": version.digests,
                    "created_at": version.created_at,
                    "variables": shown.variables(app.pk, stacks.version_variables(version)),
                }
                for version in versions
            ]
            return VersionSerializer(rows, many=True).data

        return self.paginated(app.versions.order_by("-number"), shapes)


class ReleaseDetailView(BerthAPIView):
    """``GET /api/v1/releases/{id}``: poll a release's status and progress."""

    action_map = {"GET": "cs:DescribeApplications"}

    @extend_schema(responses=ReleaseSerializer, operation_id="releases_retrieve")
    def get(self, request: Request, release_id: int) -> Response:
        release = get_object_or_404(
            Release.objects.visible_to(request.user).select_related("application"), pk=release_id
        )
        return Response(ReleaseSerializer(release).data)


class ReleaseCancelView(BerthAPIView):
    """``POST /api/v1/releases/{id}/cancel``: ask an active release to stop at its next checkpoint."""

    action_map = {"POST": "cs:CancelRelease"}

    @extend_schema(
        request=None,
        responses={200: ReleaseSerializer, 409: refused("The release has already finished.")},
        operation_id="releases_cancel",
    )
    def post(self, request: Request, release_id: int) -> Response:
        release = get_object_or_404(
            Release.objects.visible_to(request.user).select_related("application"), pk=release_id
        )
        if not operations.request_cancel(request.user, release):
            return Response({"detail": "The release has already finished."}, status=status.HTTP_409_CONFLICT)
        release.refresh_from_db()
        return Response(ReleaseSerializer(release).data)


# --- templates and config sets ----------------------------------------------------------------------


def _template_data(template: Template | library.Sample) -> dict[str, Any]:
    """A template's API shape (``TemplateSerializer``); a sample has no resource name and no ``updated_at``."""
    own = isinstance(template, Template)
    return TemplateSerializer(
        {
            "name": template.name,
            "description": template.description,
            "compose": template.compose,
            "parameters": library.parameters(template.compose),
            "sample": not own,
            "resource_name": template.resource_name if own else None,
            "updated_at": template.updated_at if own else None,
        }
    ).data


class TemplateListView(ListEndpoint, BerthAPIView):
    """``GET`` the tenant's templates, then the public samples (``sample``: true), a page at a time;
    ``POST {"name", "compose"}`` creates one."""

    action_map = {"GET": "cs:DescribeTemplates", "POST": "cs:CreateTemplate"}

    @extend_schema(responses=TemplateSerializer(many=True), operation_id="templates_list")
    def get(self, request: Request) -> Response:
        rows = Chained(Template.objects.visible_to(request.user), library.samples())
        return self.paginated(rows, lambda page: [_template_data(t) for t in page])

    @extend_schema(
        request=TemplateBody,
        responses={201: None, 400: refused("Also: the name is taken, or the Compose text does not load.")},
        operation_id="templates_create",
    )
    def post(self, request: Request) -> Response:
        data = _strict(TemplateBody, request.data)
        template = library.create_template(
            request.user, name=data["name"], compose_text=data["compose"], description=data["description"]
        )
        return Response(_template_data(template), status=status.HTTP_201_CREATED)


class TemplateDetailView(BerthAPIView):
    """``GET``, ``PUT {"name", "compose", "description"}``, ``DELETE`` one template."""

    action_map = {"GET": "cs:DescribeTemplates", "PUT": "cs:UpdateTemplate", "DELETE": "cs:DeleteTemplate"}

    def _get(self, request: Request, name: str) -> Template:
        return get_object_or_404(Template.objects.visible_to(request.user), name=name)

    @extend_schema(responses=TemplateSerializer, operation_id="templates_retrieve")
    def get(self, request: Request, name: str) -> Response:
        return Response(_template_data(self._get(request, name)))

    @extend_schema(
        request=TemplateBody,
        responses={200: None, 400: refused("Also: the name is taken, or the Compose text does not load.")},
        operation_id="templates_update",
    )
    def put(self, request: Request, name: str) -> Response:
        template = self._get(request, name)
        data = _strict(TemplateBody, request.data)
        library.update_template(
            request.user, template, name=data["name"], compose_text=data["compose"], description=data["description"]
        )
        return Response(_template_data(template))

    @extend_schema(responses={204: None}, operation_id="templates_destroy")
    def delete(self, request: Request, name: str) -> Response:
        library.delete_template(request.user, self._get(request, name))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TemplateValidateView(BerthAPIView):
    """``POST {"compose", "variables"}`` → the normalized model, parameters and dependency graph, or the errors.

    Checking a text is what writing a template needs (``cs:CreateTemplate``); the text and the answer are
    bounded (apps.compose: MAX_BYTES, MAX_EXPANDED_BYTES).
    """

    action_map = {"POST": "cs:CreateTemplate"}

    @extend_schema(
        request=ValidateBody,
        responses={
            200: None,
            400: refused('The text does not load: {"valid": false, "errors": [what is wrong, where]}.'),
        },
        operation_id="templates_validate",
    )
    def post(self, request: Request) -> Response:
        data = _strict(ValidateBody, request.data)
        try:
            model = library.validate(request.user, data["compose"], data["variables"])
        except ValidationError as exc:
            return Response({"valid": False, "errors": exc.message_dict["compose"]}, status=400)
        return Response(
            {
                "valid": True,
                "model": model,
                "parameters": library.parameters(data["compose"]),
                "graph": library.graph(model),
            }
        )


_USERS = Prefetch("applications", queryset=Application.objects.live().only("pk", "name", "config_set_id"))
"""The live applications that use a config set (by name)."""


def _config_set_data(config_set: ConfigSet) -> dict[str, Any]:
    """A config set's API shape (``ConfigSetSerializer``; its applications prefetched with ``_USERS``)."""
    return {
        "name": config_set.name,
        "description": config_set.description,
        "resource_name": config_set.resource_name,
        "variables": library.shown(config_set),
        "applications": [a.name for a in config_set.applications.all()],
    }


CONFIG_SET_REFUSED = "Also: the name is taken, or a variable's name is not one (see ``variables``)."


class ConfigSetListView(ListEndpoint, BerthAPIView):
    """``GET`` config sets (a page; secret values never shown);
    ``POST {"name", "variables": {"K": {"value", "secret"}}}``."""

    action_map = {"GET": "cs:DescribeConfigSets", "POST": "cs:CreateConfigSet"}

    @extend_schema(responses=ConfigSetSerializer(many=True), operation_id="config_sets_list")
    def get(self, request: Request) -> Response:
        rows = ConfigSet.objects.visible_to(request.user).prefetch_related(_USERS)
        return self.paginated(
            rows, lambda page: ConfigSetSerializer([_config_set_data(c) for c in page], many=True).data
        )

    @extend_schema(
        request=ConfigSetBody,
        responses={201: None, 400: refused(CONFIG_SET_REFUSED)},
        operation_id="config_sets_create",
    )
    def post(self, request: Request) -> Response:
        data = _strict(ConfigSetBody, request.data)
        made, users = library.create_config_set(request.user, **data)
        return Response(
            {"name": made.name, "variables": library.shown(made), "applications": users}, status=status.HTTP_201_CREATED
        )


class ConfigSetDetailView(BerthAPIView):
    """``GET``; ``PUT`` changes it and lists the applications using it (``?redeploy=true`` updates them); ``DELETE``."""

    action_map = {"GET": "cs:DescribeConfigSets", "PUT": "cs:UpdateConfigSet", "DELETE": "cs:DeleteConfigSet"}

    def _get(self, request: Request, name: str) -> ConfigSet:
        return get_object_or_404(ConfigSet.objects.visible_to(request.user), name=name)

    @extend_schema(responses=ConfigSetSerializer, operation_id="config_sets_retrieve")
    def get(self, request: Request, name: str) -> Response:
        found = ConfigSet.objects.filter(pk=self._get(request, name).pk).prefetch_related(_USERS).get()
        return Response(ConfigSetSerializer(_config_set_data(found)).data)

    @extend_schema(
        request=ConfigSetBody,
        responses={200: None, 400: refused(CONFIG_SET_REFUSED)},
        operation_id="config_sets_update",
    )
    def put(self, request: Request, name: str) -> Response:
        data = _strict(ConfigSetBody, request.data)
        found, users = library.update_config_set(request.user, self._get(request, name), **data)
        releases = library.redeploy_users(request.user, found) if request.query_params.get("redeploy") == "true" else []
        return Response(
            {"name": found.name, "variables": library.shown(found), "applications": users, "releases": releases}
        )

    @extend_schema(
        responses={204: None, 400: refused("Applications still use this config set.")},
        operation_id="config_sets_destroy",
    )
    def delete(self, request: Request, name: str) -> Response:
        library.delete_config_set(request.user, self._get(request, name))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _container(request: Request, cluster_id: int, name: str, container: str) -> tuple[Application, Any]:
    from apps.models import Container

    app = _application(request, cluster_id, name)
    row = (
        Container.objects.visible_to(request.user)
        .filter(service__application=app, name=container)
        .select_related("node")
        .first()
    )
    if row is None:
        from django.http import Http404

        raise Http404
    return app, row


class ContainerDetailView(BerthAPIView):
    """``GET .../{name}/containers/{container}``: ``docker inspect``, shown as apps.disclosure allows (environment
    values only to callers who may change the application; its secrets to nobody)."""

    action_map = {"GET": "cs:DescribeApplications"}

    @extend_schema(responses={200: None}, operation_id="containers_inspect")
    def get(self, request: Request, cluster_id: int, name: str, container: str) -> Response:
        from clusters import docker_host as host

        app, row = _container(request, cluster_id, name, container)
        if not row.docker_id:
            return Response({"name": row.name, "state": row.state, "inspect": None})
        inspect = host.inspect_container(host.Endpoint.of(row.node, timeout=5), row.docker_id)
        shown = Disclosure.of(request.user, [app]).inspect(app.pk, inspect)
        return Response({"name": row.name, "state": row.state, "inspect": shown})


class ContainerLogsView(BerthAPIView):
    """``GET .../{name}/containers/{container}/logs?tail=200``: its recent output, as text."""

    action_map = {"GET": "cs:DescribeApplications"}

    @extend_schema(responses={200: None}, operation_id="containers_logs")
    def get(self, request: Request, cluster_id: int, name: str, container: str) -> Any:
        from django.http import HttpResponse

        from clusters import docker_host as host

        _app, row = _container(request, cluster_id, name, container)
        try:
            tail = max(1, min(int(request.query_params.get("tail", "200")), 5000))
        except ValueError:
            tail = 200
        text = host.container_logs(host.Endpoint.of(row.node, timeout=5), row.docker_id, tail) if row.docker_id else ""
        return HttpResponse(text, content_type="text/plain; charset=utf-8")


class ContainerActionView(BerthAPIView):
    """``POST .../{name}/containers/{container}/restart|stop|remove``: 202 with the release."""

    action_name = ""
    action_map: dict[str, str] = {}

    @extend_schema(request=None, responses={202: ReleaseSerializer})
    def post(self, request: Request, cluster_id: int, name: str, container: str) -> Response:
        app, row = _container(request, cluster_id, name, container)
        release = operations.container_action(request.user, app, row.name, self.action_name)
        return Response(ReleaseSerializer(release).data, status=status.HTTP_202_ACCEPTED)
