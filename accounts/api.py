"""REST API of RAM (/api/v1/ram): users, groups, policies, attachments, access keys, grants, simulator."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from django.db.models import Exists, OuterRef, Prefetch
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import operations as ops
from accounts import permissions
from accounts.models import (
    USERNAME_PATTERN,
    USERNAME_VALIDATOR,
    AccessKey,
    ClusterGroupObjectPermission,
    ClusterUserObjectPermission,
    Policy,
    RamGroup,
    User,
)
from accounts.policy import CONDITION_KEYS
from accounts.roles import ROLE_BY_CODENAME, ROLES
from console.api import BerthAPIView, ListEndpoint, RequestBody, refused
from console.api import strict_data as _strict

PRINCIPAL_VALIDATOR = RegexValidator(rf"^(user|group):{USERNAME_PATTERN}$", _('Use "user:NAME" or "group:NAME".'))


class RamView(BerthAPIView):
    """A RAM endpoint. The user, group or policy its URL names is looked up through the permission door for the
    action the request asks for (``ram_action``, from ``action_map``; ``permissions.permitted_object``): not
    visible → 404, visible but that action not allowed → 403, each refusal naming that action and on record.

    One's own user is always visible to oneself (the console's "My account" shows it): what a user may not do on
    itself is a 403 naming the action, never a 404 that hides an object the caller knows is there. The operation
    then decides with its own rules (a user's self-service actions), as for every other object."""

    def user_named(self, name: str) -> User:
        """The user ``name`` names, through the door (one's own user: ``permissions.own_user``)."""
        return permissions.permitted_object(self.request.user, User.objects.all(), self.ram_action, name=name)

    def group_named(self, name: str) -> RamGroup:
        groups = RamGroup.objects.select_related("auth_group")
        return permissions.permitted_object(self.request.user, groups, self.ram_action, name=name)

    def policy_named(self, name: str) -> Policy:
        policies = Policy.objects.order_by("-tenant_id")
        return permissions.permitted_object(self.request.user, policies, self.ram_action, name=name)


# --- users -----------------------------------------------------------------------------------------


RESOURCE_NAME = "its RAM resource name, what policies are written against (acs:ram:…)"


class UserSerializer(serializers.ModelSerializer):
    resource_name = serializers.CharField(read_only=True, help_text=RESOURCE_NAME)
    kind = serializers.CharField(read_only=True)
    groups = serializers.SerializerMethodField()
    policies = serializers.SerializerMethodField()
    mfa_enabled = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "name",
            "login",
            "resource_name",
            "display_name",
            "kind",
            "is_active",
            "created_at",
            "last_login",
            "groups",
            "policies",
            "mfa_enabled",
        ]
        read_only_fields = fields

    def get_groups(self, obj: User) -> list[str]:
        return sorted(g.ram_group.name for g in obj.groups.all() if hasattr(g, "ram_group"))

    def get_policies(self, obj: User) -> list[str]:
        return [a.policy.name for a in obj.policy_attachments.all()]

    def get_mfa_enabled(self, obj: User) -> bool:
        if hasattr(obj, "mfa_confirmed"):  # a list annotates it (users_with_details)
            return bool(obj.mfa_confirmed)
        return TOTPDevice.objects.filter(user=obj, confirmed=True).exists()


def users_with_details(users: Any) -> Any:
    """Users with what ``UserSerializer`` shows (groups, policies, MFA), in the same number of queries for any
    number of them."""
    return users.prefetch_related("groups__ram_group", "policy_attachments__policy").annotate(
        mfa_confirmed=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True))
    )


class UserCreate(RequestBody):
    name = serializers.CharField(max_length=64, validators=[USERNAME_VALIDATOR])
    password = serializers.CharField(
        max_length=128, trim_whitespace=False, help_text="as the tenant's password policy asks"
    )
    display_name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class UserUpdate(RequestBody):
    display_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    active = serializers.BooleanField(required=False)
    password = serializers.CharField(max_length=128, required=False, trim_whitespace=False)
    current = serializers.CharField(
        max_length=128, required=False, trim_whitespace=False, help_text="your current password, to change your own"
    )


class RamUserListView(ListEndpoint, RamView):
    """``GET`` the tenant's users (a page); ``POST {"name", "password"}`` creates a sub-account."""

    action_map = {"GET": "ram:ListUsers", "POST": "ram:CreateUser"}

    @extend_schema(responses=UserSerializer(many=True), operation_id="ram_users_list")
    def get(self, request: Request) -> Response:
        users = users_with_details(User.objects.visible_to(request.user, self.ram_action))
        return self.paginated(users, lambda page: UserSerializer(page, many=True).data)

    @extend_schema(
        request=UserCreate,
        responses={
            201: UserSerializer,
            400: refused("Also: the name is taken, or the password does not meet the tenant's password policy."),
        },
        operation_id="ram_users_create",
    )
    def post(self, request: Request) -> Response:
        user = ops.create_subaccount(request.user, **_strict(UserCreate, request.data))
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class RamUserDetailView(RamView):
    """``GET``, ``PATCH {"display_name", "active", "password"}``, ``DELETE`` one user."""

    action_map = {"GET": "ram:GetUser", "PATCH": "ram:UpdateUser", "DELETE": "ram:DeleteUser"}

    @extend_schema(responses=UserSerializer, operation_id="ram_users_retrieve")
    def get(self, request: Request, name: str) -> Response:
        return Response(UserSerializer(self.user_named(name)).data)

    @extend_schema(
        request=UserUpdate,
        responses={
            200: UserSerializer,
            400: refused(
                "Also: the password does not meet the tenant's policy, your current password is wrong, or the "
                "primary account cannot be disabled."
            ),
        },
        operation_id="ram_users_update",
    )
    def patch(self, request: Request, name: str) -> Response:
        user = self.user_named(name)
        data = _strict(UserUpdate, request.data)
        current = data.pop("current", None)
        if "password" in data:
            ops.change_password(request.user, user, data.pop("password"), current=current)
        if data:
            ops.update_subaccount(request.user, user, display_name=data.get("display_name"), active=data.get("active"))
        return Response(UserSerializer(user).data)

    @extend_schema(
        responses={204: None, 400: refused("The primary account cannot be deleted.")},
        operation_id="ram_users_destroy",
    )
    def delete(self, request: Request, name: str) -> Response:
        ops.delete_subaccount(request.user, self.user_named(name))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- groups ----------------------------------------------------------------------------------------


class GroupSerializer(serializers.ModelSerializer):
    resource_name = serializers.CharField(read_only=True, help_text=RESOURCE_NAME)
    members = serializers.SerializerMethodField()
    policies = serializers.SerializerMethodField()

    class Meta:
        model = RamGroup
        fields = ["name", "resource_name", "description", "members", "policies", "created_at"]
        read_only_fields = fields

    def get_members(self, obj: RamGroup) -> list[str]:
        """``RamGroup.members`` by name, from the members a list loads with its page (``auth_group__user_set``)."""
        return sorted(u.name for u in obj.auth_group.user_set.all() if u.tenant_id == obj.tenant_id)

    def get_policies(self, obj: RamGroup) -> list[str]:
        return [a.policy.name for a in obj.policy_attachments.all()]


class GroupWrite(RequestBody):
    """A group: ``PATCH`` changes what it gives (a rename, the description, the whole list of members)."""

    name = serializers.CharField(max_length=64, validators=[USERNAME_VALIDATOR])
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)
    members = serializers.ListField(
        child=serializers.CharField(max_length=64, validators=[USERNAME_VALIDATOR]), required=False, max_length=1000
    )


GROUP_REFUSED = "Also: the name is taken, or a member is not a user of the tenant."


class RamGroupListView(ListEndpoint, RamView):
    """``GET`` groups (a page); ``POST {"name", "members": [...]}`` creates one."""

    action_map = {"GET": "ram:ListGroups", "POST": "ram:CreateGroup"}

    @extend_schema(responses=GroupSerializer(many=True), operation_id="ram_groups_list")
    def get(self, request: Request) -> Response:
        groups = (
            RamGroup.objects.visible_to(request.user, self.ram_action)
            .select_related("auth_group")
            .prefetch_related(
                "policy_attachments__policy",
                Prefetch("auth_group__user_set", User.objects.only("pk", "name", "tenant_id")),
            )
        )
        return self.paginated(groups, lambda page: GroupSerializer(page, many=True).data)

    @extend_schema(
        request=GroupWrite,
        responses={201: GroupSerializer, 400: refused(GROUP_REFUSED)},
        operation_id="ram_groups_create",
    )
    def post(self, request: Request) -> Response:
        data = _strict(GroupWrite, request.data)
        group = ops.create_group(
            request.user, name=data["name"], description=data.get("description", ""), members=data.get("members")
        )
        return Response(GroupSerializer(group).data, status=status.HTTP_201_CREATED)


class RamGroupDetailView(RamView):
    """``GET``, ``PATCH {"name", "description", "members"}`` (rename, set members), ``DELETE`` one group."""

    action_map = {"GET": "ram:GetGroup", "PATCH": "ram:UpdateGroup", "DELETE": "ram:DeleteGroup"}

    @extend_schema(responses=GroupSerializer, operation_id="ram_groups_retrieve")
    def get(self, request: Request, name: str) -> Response:
        return Response(GroupSerializer(self.group_named(name)).data)

    @extend_schema(
        request=GroupWrite,
        responses={200: GroupSerializer, 400: refused(GROUP_REFUSED)},
        operation_id="ram_groups_update",
    )
    def patch(self, request: Request, name: str) -> Response:
        group = ops.update_group(
            request.user, self.group_named(name), **_strict(GroupWrite, request.data, partial=True)
        )
        return Response(GroupSerializer(group).data)

    @extend_schema(responses={204: None}, operation_id="ram_groups_destroy")
    def delete(self, request: Request, name: str) -> Response:
        ops.delete_group(request.user, self.group_named(name))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- policies --------------------------------------------------------------------------------------


class PolicySerializer(serializers.ModelSerializer):
    """A policy; its resource name is the one the caller's tenant gives it (system policies are every tenant's)."""

    resource_name = serializers.SerializerMethodField(help_text=RESOURCE_NAME)
    default_version = serializers.SerializerMethodField()
    document = serializers.SerializerMethodField()
    versions = serializers.SerializerMethodField()

    class Meta:
        model = Policy
        fields = [
            "name",
            "resource_name",
            "kind",
            "description",
            "default_version",
            "document",
            "versions",
            "updated_at",
        ]
        read_only_fields = fields

    def get_resource_name(self, obj: Policy) -> str:
        tenant = self.context.get("tenant_id") or obj.tenant_id or "*"
        return f"acs:ram:*:{tenant}:policy/{obj.name}"

    def get_default_version(self, obj: Policy) -> str:
        return f"v{obj.default_version}"

    def get_document(self, obj: Policy) -> Any:
        return next((v.document for v in obj.versions.all() if v.number == obj.default_version), None)

    def get_versions(self, obj: Policy) -> list[dict[str, Any]]:
        return [
            {"version": v.label, "default": v.number == obj.default_version, "created_at": v.created_at}
            for v in obj.versions.all()
        ]


POLICY_DOCUMENT = 'a policy document: {"Version": "1", "Statement": [...]} (docs/ram.md)'


class PolicyCreate(RequestBody):
    name = serializers.CharField(max_length=128, validators=[USERNAME_VALIDATOR])
    document = serializers.JSONField(help_text=POLICY_DOCUMENT)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class PolicyVersionCreate(RequestBody):
    document = serializers.JSONField(help_text=POLICY_DOCUMENT)
    set_default = serializers.BooleanField(required=False, default=True)


VERSION_REFUSED = "Also: the document is not a valid policy (the message names where), or the policy is a system one."


class PolicyListView(ListEndpoint, RamView):
    """``GET`` system and custom policies (a page); ``POST {"name", "document"}`` creates a custom one."""

    action_map = {"GET": "ram:ListPolicies", "POST": "ram:CreatePolicy"}

    @extend_schema(responses=PolicySerializer(many=True), operation_id="ram_policies_list")
    def get(self, request: Request) -> Response:
        rows = Policy.objects.visible_to(request.user, self.ram_action).prefetch_related("versions")
        mine = {"tenant_id": request.user.tenant_id}
        return self.paginated(rows, lambda page: PolicySerializer(page, many=True, context=mine).data)

    @extend_schema(
        request=PolicyCreate,
        responses={
            201: PolicySerializer,
            400: refused("Also: the name is taken, or the document is not a valid policy (the message names where)."),
        },
        operation_id="ram_policies_create",
    )
    def post(self, request: Request) -> Response:
        pol = ops.create_policy(request.user, **_strict(PolicyCreate, request.data))
        return Response(PolicySerializer(pol).data, status=status.HTTP_201_CREATED)


class PolicyDetailView(RamView):
    """``GET``; ``PUT {"document"}`` adds a version and makes it the default; ``DELETE`` (when attached to nobody)."""

    action_map = {"GET": "ram:GetPolicy", "PUT": "ram:CreatePolicyVersion", "DELETE": "ram:DeletePolicy"}

    @extend_schema(responses=PolicySerializer, operation_id="ram_policies_retrieve")
    def get(self, request: Request, name: str) -> Response:
        return Response(PolicySerializer(self.policy_named(name), context={"tenant_id": request.user.tenant_id}).data)

    @extend_schema(
        request=PolicyVersionCreate,
        responses={200: PolicySerializer, 400: refused(VERSION_REFUSED)},
        operation_id="ram_policies_update",
    )
    def put(self, request: Request, name: str) -> Response:
        pol = self.policy_named(name)
        data = _strict(PolicyVersionCreate, request.data)
        ops.add_policy_version(request.user, pol, data["document"], set_default=data["set_default"])
        pol.refresh_from_db()
        return Response(PolicySerializer(pol).data)

    @extend_schema(
        responses={204: None, 400: refused("A system policy, or one still attached (the message names to whom).")},
        operation_id="ram_policies_destroy",
    )
    def delete(self, request: Request, name: str) -> Response:
        ops.delete_policy(request.user, self.policy_named(name))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PolicyVersionRow(serializers.Serializer):
    """One version of a policy."""

    version = serializers.CharField(read_only=True, help_text="v1, v2, …")
    default = serializers.BooleanField(read_only=True)
    document = serializers.JSONField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class PolicyVersionsView(ListEndpoint, RamView):
    """``GET`` versions (a page); ``POST {"document", "set_default"}`` adds one (5 kept)."""

    action_map = {"GET": "ram:ListPolicyVersions", "POST": "ram:CreatePolicyVersion"}

    @extend_schema(responses=PolicyVersionRow(many=True), operation_id="ram_policy_versions_list")
    def get(self, request: Request, name: str) -> Response:
        pol = self.policy_named(name)

        def shapes(versions: list[Any]) -> Any:
            rows = [
                {
                    "version": v.label,
                    "default": v.number == pol.default_version,
                    "document": v.document,
                    "created_at": v.created_at,
                }
                for v in versions
            ]
            return PolicyVersionRow(rows, many=True).data

        return self.paginated(pol.versions.all(), shapes)

    @extend_schema(
        request=PolicyVersionCreate,
        responses={201: PolicySerializer, 400: refused(VERSION_REFUSED)},
        operation_id="ram_policy_versions_create",
    )
    def post(self, request: Request, name: str) -> Response:
        pol = self.policy_named(name)
        data = _strict(PolicyVersionCreate, request.data)
        version = ops.add_policy_version(request.user, pol, data["document"], set_default=data["set_default"])
        pol.refresh_from_db()
        return Response(
            {"version": version.label, "default": version.number == pol.default_version}, status=status.HTTP_201_CREATED
        )


class AttachBody(RequestBody):
    policy = serializers.CharField(max_length=128, validators=[USERNAME_VALIDATOR])


class _AttachmentView(RamView):
    kind = "user"

    def _holder(self, name: str) -> dict[str, Any]:
        return {"user": self.user_named(name)} if self.kind == "user" else {"group": self.group_named(name)}


class AttachedPolicy(serializers.Serializer):
    """A policy attached to a user or a group."""

    name = serializers.CharField(read_only=True)
    kind = serializers.CharField(read_only=True, help_text="system or custom")


class AttachmentListView(ListEndpoint, _AttachmentView):
    """``/ram/users/{name}/policies`` and ``/ram/groups/{name}/policies``: ``GET`` (a page) and ``POST {"policy"}``."""

    action_map = {"GET": "ram:ListPoliciesForUser", "POST": "ram:AttachPolicyToUser"}

    @extend_schema(responses=AttachedPolicy(many=True))
    def get(self, request: Request, name: str) -> Response:
        holder = next(iter(self._holder(name).values()))
        rows = holder.policy_attachments.select_related("policy").order_by("id")
        return self.paginated(rows, lambda page: AttachedPolicy([a.policy for a in page], many=True).data)

    @extend_schema(
        request=AttachBody,
        responses={
            201: None,
            400: refused("Also: the policy is attached already, or the holder is the primary account."),
        },
    )
    def post(self, request: Request, name: str) -> Response:
        pol = ops.find_policy(request.user, _strict(AttachBody, request.data)["policy"])
        ops.attach_policy(request.user, pol, **self._holder(name))
        return Response({"policy": pol.name}, status=status.HTTP_201_CREATED)


class AttachmentDetailView(_AttachmentView):
    """``DELETE .../policies/{policy}`` detaches."""

    action_map = {"DELETE": "ram:DetachPolicyFromUser"}

    @extend_schema(responses={204: None, 400: refused("The policy is not attached.")})
    def delete(self, request: Request, name: str, policy: str) -> Response:
        ops.detach_policy(request.user, ops.find_policy(request.user, policy), **self._holder(name))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- access keys -----------------------------------------------------------------------------------


class AccessKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = AccessKey
        fields = ["key_id", "is_active", "created_at", "last_used_at"]
        read_only_fields = fields


class AccessKeyUpdate(RequestBody):
    active = serializers.BooleanField()


class AccessKeyListView(ListEndpoint, RamView):
    """``GET`` a user's access keys (a page); ``POST`` issues one and returns its secret, this once."""

    action_map = {"GET": "ram:ListAccessKeys", "POST": "ram:CreateAccessKey"}

    @extend_schema(responses=AccessKeySerializer(many=True), operation_id="ram_access_keys_list")
    def get(self, request: Request, name: str) -> Response:
        user = self.user_named(name)
        return self.paginated(user.access_keys.order_by("id"), lambda page: AccessKeySerializer(page, many=True).data)

    @extend_schema(
        request=None,
        responses={
            201: AccessKeySerializer,
            400: refused(f"The user holds {AccessKey.MAX_PER_USER} access keys already, the most it may."),
        },
        operation_id="ram_access_keys_create",
    )
    def post(self, request: Request, name: str) -> Response:
        key, secret = ops.create_access_key(request.user, self.user_named(name))
        return Response({**AccessKeySerializer(key).data, "secret": secret}, status=status.HTTP_201_CREATED)


class AccessKeyDetailView(RamView):
    """``PATCH {"active": false}`` disables, ``DELETE`` removes."""

    action_map = {"PATCH": "ram:UpdateAccessKey", "DELETE": "ram:DeleteAccessKey"}

    def _key(self, name: str, key_id: str) -> AccessKey:
        key = AccessKey.objects.filter(user=self.user_named(name), key_id=key_id).select_related("user").first()
        if key is None:
            permissions.refuse(self.request.user, self.ram_action, target=key_id, not_found=True)
        return key

    @extend_schema(request=AccessKeyUpdate, responses=AccessKeySerializer, operation_id="ram_access_keys_update")
    def patch(self, request: Request, name: str, key_id: str) -> Response:
        key = self._key(name, key_id)
        ops.set_access_key_active(request.user, key, _strict(AccessKeyUpdate, request.data)["active"])
        return Response(AccessKeySerializer(key).data)

    @extend_schema(responses={204: None}, operation_id="ram_access_keys_destroy")
    def delete(self, request: Request, name: str, key_id: str) -> Response:
        ops.delete_access_key(request.user, self._key(name, key_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- grants ----------------------------------------------------------------------------------------


class GrantBody(RequestBody):
    principal = serializers.CharField(max_length=80, validators=[PRINCIPAL_VALIDATOR])
    cluster = serializers.IntegerField(help_text="a cluster's id")
    role = serializers.ChoiceField(choices=list(ROLES))


class GrantRow(serializers.Serializer):
    """A grant as listed (``id`` names it for ``DELETE``)."""

    id = serializers.CharField(read_only=True)
    principal = serializers.CharField(read_only=True)
    cluster = serializers.IntegerField(read_only=True)
    cluster_name = serializers.CharField(read_only=True)
    role = serializers.ChoiceField(choices=list(ROLES), read_only=True)


def grant_rows(user: Any, action: str = "cs:DescribeUserPermissions") -> list[dict[str, Any]]:
    """Every grant on the clusters where ``user`` may see grants (or do ``action``), as API rows. (The clusters are
    reached through the tenant: clusters sit above accounts, which never imports them.)"""
    clusters = user.tenant.clusters.visible_to(user, action)
    rows: list[dict[str, Any]] = []
    for perm in ClusterUserObjectPermission.objects.filter(content_object__in=clusters).select_related(
        "user", "permission", "content_object"
    ):
        rows.append(
            {
                "id": f"u{perm.pk}",
                "principal": f"user:{perm.user.name}",
                "cluster": perm.content_object_id,
                "cluster_name": perm.content_object.name,
                "role": ROLE_BY_CODENAME[perm.permission.codename].slug,
            }
        )
    for perm in ClusterGroupObjectPermission.objects.filter(content_object__in=clusters).select_related(
        "group__ram_group", "permission", "content_object"
    ):
        rows.append(
            {
                "id": f"g{perm.pk}",
                "principal": f"group:{perm.group.ram_group.name}",
                "cluster": perm.content_object_id,
                "cluster_name": perm.content_object.name,
                "role": ROLE_BY_CODENAME[perm.permission.codename].slug,
            }
        )
    return sorted(rows, key=lambda r: (r["cluster"], r["principal"]))


class GrantListView(ListEndpoint, BerthAPIView):
    """``GET`` grants (a page); ``POST {"principal": "user:NAME"|"group:NAME", "cluster": ID, "role": ROLE}``."""

    action_map = {"GET": "cs:DescribeUserPermissions", "POST": "cs:GrantPermissions"}

    @extend_schema(responses=GrantRow(many=True), operation_id="ram_grants_list")
    def get(self, request: Request) -> Response:
        return self.paginated(grant_rows(request.user, self.ram_action), lambda page: GrantRow(page, many=True).data)

    @extend_schema(
        request=GrantBody,
        responses={
            201: GrantBody,
            400: refused("Also: the cluster or the principal is unknown, or the principal is the primary account."),
        },
        operation_id="ram_grants_create",
    )
    def post(self, request: Request) -> Response:
        data = _strict(GrantBody, request.data)
        cluster = request.user.tenant.clusters.visible_to(request.user).filter(pk=data["cluster"]).first()
        if cluster is None:
            raise serializers.ValidationError({"cluster": ["Unknown cluster."]})
        ops.grant(request.user, data["principal"], cluster, data["role"])
        return Response(data, status=status.HTTP_201_CREATED)


class GrantDetailView(BerthAPIView):
    """``DELETE /ram/grants/{id}`` revokes the role."""

    action_map = {"DELETE": "cs:RevokePermissions"}

    @extend_schema(responses={204: None}, operation_id="ram_grants_destroy")
    def delete(self, request: Request, grant_id: str) -> Response:
        row = next((r for r in grant_rows(request.user, self.ram_action) if r["id"] == grant_id), None)
        if row is None:
            permissions.refuse(request.user, self.ram_action, target=grant_id, not_found=True)
        cluster = request.user.tenant.clusters.get(pk=row["cluster"])
        ops.revoke(request.user, row["principal"], cluster)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- the caller's own account ---------------------------------------------------------------------


class AccountSerializer(serializers.Serializer):
    """Who the caller is, as Alibaba's ``GetCallerIdentity`` says it: the account id is the tenant's, the one every
    resource name of the tenant carries (``acs:<service>:<region>:<account-id>:…``)."""

    account_id = serializers.IntegerField(read_only=True, source="tenant_id")
    account_alias = serializers.CharField(read_only=True, source="tenant.alias")
    account_name = serializers.CharField(read_only=True, source="tenant.name")
    user = serializers.CharField(read_only=True, source="name")
    login = serializers.CharField(read_only=True)
    kind = serializers.CharField(read_only=True, help_text="primary or sub")
    resource_name = serializers.CharField(read_only=True, help_text=RESOURCE_NAME)


class AccountView(BerthAPIView):
    """``GET /api/v1/account``: the caller's account id, its tenant's alias and name, and its own login, kind and
    RAM resource name. Every signed-in caller may read its own (``sts:GetCallerIdentity``)."""

    action_map = {"GET": "sts:GetCallerIdentity"}

    @extend_schema(responses=AccountSerializer, operation_id="account_retrieve")
    def get(self, request: Request) -> Response:
        return Response(AccountSerializer(request.user).data)


# --- simulator and catalogue -----------------------------------------------------------------------


@extend_schema_field(
    {
        "type": "object",
        "description": "the request's condition keys to decide with (names matched without regard to case)",
        "properties": {key: {} for key in CONDITION_KEYS},
        "additionalProperties": False,
    }
)
class ConditionContext(serializers.DictField):
    """Condition key → value; which keys there are is the simulator's rule (``ops.simulate``)."""


class SimulateBody(RequestBody):
    user = serializers.CharField(max_length=64, validators=[USERNAME_VALIDATOR])
    action = serializers.CharField(max_length=128, validators=[ops.SIMULATED_ACTION])
    resource = serializers.CharField(max_length=512)
    context = ConditionContext(required=False, default=dict)


class SimulateView(BerthAPIView):
    """``POST`` → ``{"decision": "allow"|"deny", "reason": {...}}``: which statement or grant decided."""

    action_map = {"POST": "ram:SimulatePolicy"}

    @extend_schema(
        request=SimulateBody,
        responses={200: None, 400: refused("Also: the user is not one of the tenant.")},
        operation_id="ram_simulate",
    )
    def post(self, request: Request) -> Response:
        data = _strict(SimulateBody, request.data)
        return Response(
            ops.simulate(
                request.user,
                user_name=data["user"],
                action=data["action"],
                resource=data["resource"],
                context=data["context"],
            )
        )


class CatalogueRow(serializers.Serializer):
    """One action: the resource it applies to, what it allows, and the pages and endpoints that need it."""

    action = serializers.CharField(read_only=True)
    resource = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    pages = serializers.ListField(child=serializers.CharField(), read_only=True)
    endpoints = serializers.ListField(child=serializers.CharField(), read_only=True)


class ActionCatalogueView(ListEndpoint, BerthAPIView):
    """``GET`` every action name with its resource, pages and endpoints (a page at a time, by name)."""

    action_map = {"GET": "ram:ListActions"}
    permission_classes: list[Any] = []  # the catalogue is public documentation
    authentication_classes: list[Any] = []

    @extend_schema(responses=CatalogueRow(many=True), operation_id="ram_actions_list")
    def get(self, request: Request) -> Response:
        from accounts.catalogue import catalogue

        return self.paginated(catalogue(), lambda page: CatalogueRow(page, many=True).data)
