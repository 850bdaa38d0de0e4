"""API shapes of applications, releases, templates and config sets; request bodies carry the rules their
operations apply (the same validators and constants), so the schema says what the API accepts."""

from __future__ import annotations

from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from accounts.models import NAME_VALIDATOR
from apps.disclosure import Disclosure
from apps.image_spec import IMAGE_RE
from apps.library import CONFIG_VARIABLE_RE
from apps.models import MAX_SCALE, Application, Container, Release, Service
from console.api import RequestBody, checked_by_the_operation

IMAGE_VALIDATOR = RegexValidator(IMAGE_RE, _("Not a valid image reference (for example nginx:1.25)."))
PORT = (MinValueValidator(1), MaxValueValidator(65535))


class ReleaseSerializer(serializers.ModelSerializer):
    """A release and its progress, for polling."""

    application = serializers.CharField(source="application.name", read_only=True)
    application_id = serializers.IntegerField(read_only=True)
    cluster = serializers.IntegerField(source="application.cluster_id", read_only=True)
    percent = serializers.IntegerField(read_only=True)
    plan = serializers.SerializerMethodField(help_text="a rolling release's steps: per service, its batches")
    strategy = serializers.SerializerMethodField(help_text="rolling, blue-green or canary")
    side_by_side = serializers.SerializerMethodField(
        help_text="a blue-green or canary release: the new version's weight, whether it runs, the user's decision, "
        "a canary's steps and each step's verdict with its numbers"
    )

    class Meta:
        model = Release
        fields = [
            "id",
            "application",
            "application_id",
            "cluster",
            "kind",
            "status",
            "progress_done",
            "progress_total",
            "percent",
            "error",
            "cancel_requested",
            "paused",
            "plan",
            "strategy",
            "side_by_side",
            "attempts",
            "source",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_plan(self, release: Release) -> list[dict[str, Any]]:
        return list((release.params or {}).get("plan") or [])

    def get_strategy(self, release: Release) -> str:
        return str((release.params or {}).get("strategy") or "rolling")

    def get_side_by_side(self, release: Release) -> dict[str, Any] | None:
        shown = release.side_by_side()
        return None if shown["strategy"] == "rolling" else shown


class ContainerSerializer(serializers.ModelSerializer):
    node = serializers.CharField(source="node.name", read_only=True)
    address = serializers.SerializerMethodField()

    class Meta:
        model = Container
        fields = [
            "name",
            "index",
            "generation",
            "candidate",
            "traffic_weight",
            "node",
            "state",
            "docker_id",
            "published_port",
            "address",
        ]
        read_only_fields = fields

    def get_address(self, obj: Container) -> str:
        return obj.address


class ServiceSerializer(serializers.ModelSerializer):
    """A service; what it runs with is shown as the context's ``disclosure`` (apps.disclosure) allows (without
    one: no value of its environment)."""

    containers = ContainerSerializer(many=True, read_only=True)
    image = serializers.SerializerMethodField()
    pinned_image = serializers.SerializerMethodField()
    command = serializers.SerializerMethodField()
    environment = serializers.SerializerMethodField()

    class Meta:
        model = Service
        fields = [
            "name",
            "image",
            "pinned_image",
            "command",
            "environment",
            "scale",
            "container_port",
            "host_port",
            "containers",
        ]
        read_only_fields = fields

    def _shown(self) -> Disclosure:
        return self.context.get("disclosure") or Disclosure()

    def get_image(self, obj: Service) -> str:
        return self._shown().text(obj.application_id, obj.image)

    def get_pinned_image(self, obj: Service) -> str:
        return self._shown().text(obj.application_id, obj.pinned_image)

    def get_command(self, obj: Service) -> Any:
        return self._shown().data(obj.application_id, obj.command)

    def get_environment(self, obj: Service) -> dict[str, str]:
        """Values to callers who may change the application (config-set secrets masked even then); names only,
        each value ``****``, to the others (apps.disclosure)."""
        return self._shown().environment(obj.application_id, obj.environment or {})


class ApplicationSerializer(serializers.ModelSerializer):
    """An application with its services and containers."""

    cluster = serializers.IntegerField(source="cluster_id", read_only=True)
    resource_name = serializers.CharField(
        read_only=True, help_text="its RAM resource name, what policies are written against (acs:cs:…)"
    )
    services = ServiceSerializer(many=True, read_only=True)
    latest_release = serializers.SerializerMethodField()

    class Meta:
        model = Application
        fields = [
            "id",
            "name",
            "resource_name",
            "cluster",
            "description",
            "status",
            "created_at",
            "updated_at",
            "services",
            "latest_release",
        ]
        read_only_fields = fields

    def get_latest_release(self, obj: Application) -> dict[str, Any] | None:
        if hasattr(obj, "latest_releases"):  # loaded with the page (apps.api.with_details): no query each
            release = obj.latest_releases[0] if obj.latest_releases else None
        elif "releases" in getattr(obj, "_prefetched_objects_cache", {}):
            release = max(obj.releases.all(), key=lambda r: r.pk, default=None)
        else:
            release = obj.releases.order_by("-id").first()
        if release is None:
            return None
        if not hasattr(self, "_release_shape"):  # one for the whole list: a serializer builds its fields once
            self._release_shape = ReleaseSerializer()
        return self._release_shape.to_representation(release)


class ImageApplicationCreateSerializer(RequestBody):
    """Deploy an application from one image. The operation checks the name, image, scale and ports itself
    (``apps.image_spec.validate_spec``), so that a refused deploy is on the operation log."""

    name = checked_by_the_operation(serializers.CharField(max_length=63), NAME_VALIDATOR)
    image = checked_by_the_operation(serializers.CharField(max_length=255), IMAGE_VALIDATOR)
    command = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)
    scale = checked_by_the_operation(
        serializers.IntegerField(required=False, default=1), MinValueValidator(1), MaxValueValidator(MAX_SCALE)
    )
    environment = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        default=dict,
        help_text="NAME → value; a name is letters, digits, '_', '.', '-' and does not start with a digit or '.'",
    )
    container_port = checked_by_the_operation(
        serializers.IntegerField(required=False, allow_null=True, default=None), *PORT
    )
    host_port = checked_by_the_operation(
        serializers.IntegerField(required=False, allow_null=True, default=None, help_text="needs container_port"),
        *PORT,
    )
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)


class ComposeApplicationCreateSerializer(RequestBody):
    """Deploy an application from a Compose text or a template (one of them), with variables."""

    name = serializers.CharField(max_length=63, validators=[NAME_VALIDATOR])
    compose = serializers.CharField(required=False, allow_blank=True, max_length=1024 * 1024 + 1, trim_whitespace=False)
    template = serializers.CharField(required=False, max_length=63, validators=[NAME_VALIDATOR])
    variables = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=4096), required=False, default=dict
    )
    config_set = serializers.CharField(required=False, max_length=63, allow_blank=True, validators=[NAME_VALIDATOR])
    description = serializers.CharField(required=False, allow_blank=True, max_length=300, default="")


class ComposeUpdateSerializer(RequestBody):
    compose = serializers.CharField(required=False, max_length=1024 * 1024 + 1, trim_whitespace=False)
    variables = serializers.DictField(child=serializers.CharField(allow_blank=True, max_length=4096), required=False)
    strategy = serializers.ChoiceField(
        ["rolling", "blue-green", "canary"],
        required=False,
        default="rolling",
        help_text="rolling: batch by batch (deploy.update_config); blue-green: the new version beside the old one at "
        "weight 0, shifted by the user, then confirmed or rolled back; canary: shifted in steps, each judged from the "
        "routers' traffic",
    )
    canary = serializers.DictField(
        required=False,
        help_text='{"steps": [10, 25, 50, 100], "hold_seconds": 60, "max_5xx_increase": 0.01, "max_p95_ratio": 1.5, '
        '"min_requests": 20}; every field optional',
    )


class ScaleSerializer(RequestBody):
    scale = serializers.IntegerField(min_value=0, max_value=MAX_SCALE)


class RollbackSerializer(RequestBody):
    """``{"version": N}`` (an earlier version's number); without it, the version before the current one."""

    version = serializers.IntegerField(min_value=1, required=False, allow_null=True)


class TemplateBody(RequestBody):
    """A template: its name and a Compose text the loader accepts (with its parameters unset)."""

    name = serializers.CharField(max_length=63, validators=[NAME_VALIDATOR])
    compose = serializers.CharField(max_length=1024 * 1024 + 1, trim_whitespace=False)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class ValidateBody(RequestBody):
    """A Compose text to check, with values for its parameters (given any, every one must have a value)."""

    compose = serializers.CharField(max_length=1024 * 1024 + 1, trim_whitespace=False)
    variables = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=4096), required=False, default=dict
    )


class ConfigVariable(RequestBody):
    """One variable of a config set: its value (a secret left out keeps the value it had) and whether it is secret
    (sealed, never shown again)."""

    value = serializers.CharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)
    secret = serializers.BooleanField(required=False, default=False)


class ConfigSetBody(RequestBody):
    name = serializers.CharField(max_length=63, validators=[NAME_VALIDATOR])
    description = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    variables = serializers.DictField(
        child=ConfigVariable(),
        required=False,
        default=dict,
        help_text=f"variable name (matching {CONFIG_VARIABLE_RE.pattern}) → its value",
    )


# --- list shapes (one page of a list: console.api.ListEndpoint) -----------------------------------------------


class VersionSerializer(serializers.Serializer):
    """One version of an application: its digests and note; the template text and the variables' values only to
    callers who may change the application (``null`` otherwise), config-set secret values never."""

    version = serializers.IntegerField(read_only=True)
    current = serializers.BooleanField(read_only=True)
    note = serializers.CharField(read_only=True)
    compose = serializers.CharField(read_only=True, allow_null=True)
    digests = serializers.DictField(child=serializers.CharField(), read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    variables = serializers.DictField(child=serializers.CharField(allow_null=True), read_only=True)


class TemplateParameter(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    default = serializers.CharField(read_only=True, allow_null=True)
    required = serializers.BooleanField(read_only=True)
    message = serializers.CharField(read_only=True, allow_null=True)


class TemplateSerializer(serializers.Serializer):
    """A template of the tenant, or a public sample (``sample``: true, no resource name, no ``updated_at``)."""

    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    compose = serializers.CharField(read_only=True)
    parameters = TemplateParameter(many=True, read_only=True)
    sample = serializers.BooleanField(read_only=True)
    resource_name = serializers.CharField(read_only=True, allow_null=True)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)


class ConfigSetVariable(serializers.Serializer):
    value = serializers.CharField(read_only=True, allow_null=True, help_text="null for a secret: never shown")
    secret = serializers.BooleanField(read_only=True)


class ConfigSetSerializer(serializers.Serializer):
    """A config set as anyone sees it: secret values never; the live applications that use it, by name."""

    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    resource_name = serializers.CharField(read_only=True)
    variables = serializers.DictField(child=ConfigSetVariable(), read_only=True)
    applications = serializers.ListField(child=serializers.CharField(), read_only=True)
