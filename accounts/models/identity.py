"""Tenants (primary accounts' organisations), their users and access keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.decisions import Resource, ResourceColumns, TenantQuerySet, resource_text

NAME_VALIDATOR = RegexValidator(
    r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
    _("Use 1-63 lower-case letters, digits and hyphens; start and end with a letter or digit."),
)
USERNAME_PATTERN = r"[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}"
"""A user's, group's or policy's name (unanchored, for patterns that embed it, such as ``user:NAME``)."""
USERNAME_VALIDATOR = RegexValidator(
    rf"^{USERNAME_PATTERN}$",
    _("Use up to 64 letters, digits, dots, hyphens and underscores; start with a letter or digit."),
)


class Tenant(models.Model):
    """A customer organisation: the boundary no permission crosses. Its primary account owns everything in it.

    The password policy of its users lives here too (Alibaba keeps it per account).
    """

    name = models.CharField(_("name"), max_length=100)
    alias = models.CharField(_("alias"), max_length=63, unique=True, validators=[NAME_VALIDATOR])
    created_at = models.DateTimeField(auto_now_add=True)
    password_min_length = models.PositiveSmallIntegerField(_("minimum password length"), default=8)
    password_require_upper = models.BooleanField(_("require an upper-case letter"), default=False)
    password_require_lower = models.BooleanField(_("require a lower-case letter"), default=False)
    password_require_digit = models.BooleanField(_("require a digit"), default=False)
    password_require_symbol = models.BooleanField(_("require a symbol"), default=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.alias

    def password_problems(self, password: str) -> list[str]:
        """What ``password`` lacks under this tenant's password policy (empty when it complies)."""
        problems = []
        if len(password) < self.password_min_length:
            problems.append(_("Use at least %(n)s characters.") % {"n": self.password_min_length})
        checks = [
            (self.password_require_upper, any(c.isupper() for c in password), _("Use an upper-case letter.")),
            (self.password_require_lower, any(c.islower() for c in password), _("Use a lower-case letter.")),
            (self.password_require_digit, any(c.isdigit() for c in password), _("Use a digit.")),
            (self.password_require_symbol, any(not c.isalnum() for c in password), _("Use a symbol.")),
        ]
        problems.extend(str(message) for required, present, message in checks if required and not present)
        return [str(p) for p in problems]


class UserQuerySet(TenantQuerySet):
    """A user can see a RAM user of its tenant when it may get that user (``ram:GetUser``)."""

    read_action = "ram:GetUser"

    def resource_columns(self) -> ResourceColumns:
        return ResourceColumns(resource_text("acs:ram:*:", models.F("tenant_id"), ":user/", models.F("name")))

    def resource_rows(self) -> Iterable[tuple[int, Resource]]:
        for pk, name, tenant_id in self.values_list("pk", "name", "tenant_id"):
            yield pk, Resource(f"acs:ram:*:{tenant_id}:user/{name}")


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    """Creates users inside a tenant; the login is ``name@alias``."""

    def create_user(self, tenant: Tenant, name: str, password: str | None, **extra: object) -> User:
        user = self.model(tenant=tenant, name=name, login=f"{name}@{tenant.alias}", **extra)
        user.set_password(password)
        user.full_clean(exclude=["password", "groups"])
        user.save()
        return user


class User(AbstractBaseUser, PermissionsMixin):
    """A person or script in a tenant: the primary account, or a sub-account (RAM user).

    There is no superuser path across tenants: ``is_superuser`` stays False and every check
    starts from ``tenant``.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="users")
    name = models.CharField(_("user name"), max_length=64, validators=[USERNAME_VALIDATOR])
    login = models.CharField(_("login"), max_length=130, unique=True, editable=False)
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    is_primary = models.BooleanField(_("primary account"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = UserManager()

    USERNAME_FIELD = "login"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="user_name_unique_in_tenant"),
            models.UniqueConstraint(
                fields=["tenant"], condition=models.Q(is_primary=True), name="one_primary_account_per_tenant"
            ),
        ]

    def __str__(self) -> str:
        return self.login

    @property
    def is_staff(self) -> bool:
        """The Django admin is not part of the product: nobody is staff."""
        return False

    @property
    def resource_name(self) -> str:
        """``acs:ram:*:<tenant-id>:user/<name>``."""
        return f"acs:ram:*:{self.tenant_id}:user/{self.name}"

    @property
    def kind(self) -> str:
        """``primary`` or ``sub``, as the operation log shows it."""
        return "primary" if self.is_primary else "sub"


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AccessKeyManager(models.Manager["AccessKey"]):
    """Issues access keys; the secret exists in clear only in the return value of :meth:`issue`."""

    def issue(self, user: User) -> tuple[AccessKey, str]:
        key_id = "LTAI" + secrets.token_hex(10)
        secret = secrets.token_urlsafe(30)
        key = self.create(user=user, tenant=user.tenant, key_id=key_id, secret_hash=_hash_secret(secret))
        return key, secret


class AccessKey(models.Model):
    """An API credential of a user: ``Authorization: Bearer <key_id>:<secret>``. Only a hash is stored."""

    MAX_PER_USER = 2

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="access_keys")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="access_keys")
    key_id = models.CharField(max_length=40, unique=True)
    secret_hash = models.CharField(max_length=64)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = AccessKeyManager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.key_id

    def check_secret(self, secret: str) -> bool:
        """Constant-time comparison of a presented secret with the stored hash."""
        return hmac.compare_digest(self.secret_hash, _hash_secret(secret))

    def touch(self) -> None:
        """Record a use (at most once a minute, to keep writes down)."""
        now = timezone.now()
        if self.last_used_at is None or (now - self.last_used_at).total_seconds() > 60:
            AccessKey.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now
