"""Models of accounts: identity (tenants, users, access keys) and RAM (groups, policies, grants)."""

from accounts.models.identity import (
    NAME_VALIDATOR,
    USERNAME_PATTERN,
    USERNAME_VALIDATOR,
    AccessKey,
    Tenant,
    User,
    UserManager,
)
from accounts.models.ram import (
    ClusterGroupObjectPermission,
    ClusterUserObjectPermission,
    Policy,
    PolicyAttachment,
    PolicyVersion,
    RamGroup,
)

__all__ = [
    "NAME_VALIDATOR",
    "USERNAME_PATTERN",
    "USERNAME_VALIDATOR",
    "AccessKey",
    "ClusterGroupObjectPermission",
    "ClusterUserObjectPermission",
    "Policy",
    "PolicyAttachment",
    "PolicyVersion",
    "RamGroup",
    "Tenant",
    "User",
    "UserManager",
]
