"""RAM: groups of users, policies (system and custom, with versions), attachments and cluster grants."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group as AuthGroup
from django.db import models
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from accounts.decisions import Resource, ResourceColumns, TenantQuerySet, permitted, resource_text
from accounts.models.identity import USERNAME_VALIDATOR, Tenant, User


class RamGroupQuerySet(TenantQuerySet):
    """A user can see a group when it is in its tenant and it may list groups."""

    read_action = "ram:ListGroups"

    def resource_columns(self) -> ResourceColumns:
        return ResourceColumns(resource_text("acs:ram:*:", models.F("tenant_id"), ":group/", models.F("name")))

    def resource_rows(self) -> Iterable[tuple[int, Resource]]:
        for pk, name, tenant_id in self.values_list("pk", "name", "tenant_id"):
            yield pk, Resource(f"acs:ram:*:{tenant_id}:group/{name}")


class RamGroup(models.Model):
    """A RAM group. Membership is Django's ``User.groups`` on the linked ``auth.Group``, which guardian uses."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="ram_groups")
    name = models.CharField(_("name"), max_length=64, validators=[USERNAME_VALIDATOR])
    description = models.CharField(_("description"), max_length=300, blank=True)
    auth_group = models.OneToOneField(AuthGroup, on_delete=models.CASCADE, related_name="ram_group", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RamGroupQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="ram_group_name_unique_in_tenant")]

    def __str__(self) -> str:
        return self.name

    @property
    def members(self) -> models.QuerySet[User]:
        return User.objects.filter(groups=self.auth_group, tenant_id=self.tenant_id).order_by("name")

    @property
    def resource_name(self) -> str:
        return f"acs:ram:*:{self.tenant_id}:group/{self.name}"


class PolicyQuerySet(TenantQuerySet):
    """A user can see the system policies and its tenant's custom policies when it may list policies (or do
    ``action``) on them; every policy is named ``acs:ram:*:<tenant-id>:policy/<name>`` from inside a tenant."""

    read_action = "ram:ListPolicies"

    def visible_to(self, user: Any, action: str | None = None) -> PolicyQuerySet:
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        scoped = self.filter(models.Q(tenant_id=user.tenant_id) | models.Q(tenant__isnull=True))
        if user.is_primary:
            return scoped
        columns = ResourceColumns(resource_text(f"acs:ram:*:{user.tenant_id}:policy/", models.F("name")))
        return permitted(scoped, user, action or self.read_action, columns)


class Policy(models.Model):
    """A named policy: system (shared, read-only, no tenant) or custom (a tenant's, up to 5 versions)."""

    class Kind(models.TextChoices):
        SYSTEM = "system", _("system")
        CUSTOM = "custom", _("custom")

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="policies")
    name = models.CharField(_("name"), max_length=128, validators=[USERNAME_VALIDATOR])
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.CUSTOM)
    description = models.CharField(_("description"), max_length=300, blank=True)
    default_version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PolicyQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="policy_name_unique_in_tenant"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(tenant__isnull=True), name="system_policy_name_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def default(self) -> PolicyVersion:
        """The version in force."""
        return self.versions.get(number=self.default_version)


class PolicyVersion(models.Model):
    """One version of a policy's document; ``v<number>``."""

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    document = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["policy_id", "number"]
        constraints = [models.UniqueConstraint(fields=["policy", "number"], name="policy_version_unique")]

    def __str__(self) -> str:
        return f"{self.policy.name} v{self.number}"

    @property
    def label(self) -> str:
        return f"v{self.number}"


class PolicyAttachment(models.Model):
    """A policy attached to a sub-account or to a group of the same tenant."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="policy_attachments")
    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="attachments")
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="policy_attachments")
    group = models.ForeignKey(
        RamGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="policy_attachments"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(user__isnull=False) & models.Q(group__isnull=True))
                | (models.Q(user__isnull=True) & models.Q(group__isnull=False)),
                name="attachment_has_one_principal",
            ),
            models.UniqueConstraint(fields=["policy", "user"], name="policy_attached_once_to_user"),
            models.UniqueConstraint(fields=["policy", "group"], name="policy_attached_once_to_group"),
        ]

    def __str__(self) -> str:
        return f"{self.policy.name} → {self.user or self.group}"


class ClusterUserObjectPermission(UserObjectPermissionBase):
    """A role on a cluster granted to a user (guardian, direct foreign key)."""

    content_object = models.ForeignKey("clusters.Cluster", on_delete=models.CASCADE, related_name="user_grants")

    class Meta(UserObjectPermissionBase.Meta):
        pass


class ClusterGroupObjectPermission(GroupObjectPermissionBase):
    """A role on a cluster granted to a group (guardian, direct foreign key)."""

    content_object = models.ForeignKey("clusters.Cluster", on_delete=models.CASCADE, related_name="group_grants")

    class Meta(GroupObjectPermissionBase.Meta):
        pass
