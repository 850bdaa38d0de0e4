"""Cluster roles (Alibaba's "Authorizations"): what a grant of each role on one cluster allows.

A grant is a guardian object permission (``clusters.cluster_<role>``) of a user or a group on a
cluster. Patterns use the policy wildcards; the developer's ``own`` actions apply only to
applications the user created.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from accounts.policy import action_matches

READ = ("cs:Describe*", "cs:Get*", "cs:List*")
# Every action that only reads (the read-only role's, and RAM's Get/List): a page that answers such an action
# shows what the user may see; any other action changes something and is decided before the page opens.
READ_ACTIONS = (*READ, "ram:Get*", "ram:List*")
APP_WRITE = (
    "cs:UpdateApplication",
    "cs:StartApplication",
    "cs:StopApplication",
    "cs:RestartApplication",
    "cs:KillApplication",
    "cs:RedeployApplication",
    "cs:RollbackApplication",
    "cs:DeleteApplication",
    "cs:ScaleService",
    "cs:ModifyRoute",
    "cs:CancelRelease",
    "cs:ControlRelease",
    "cs:*Container",
)


@dataclass(frozen=True)
class Role:
    """A named set of actions on one cluster."""

    slug: str
    codename: str
    label: str
    actions: tuple[str, ...]
    own_actions: tuple[str, ...] = ()  # allowed only on applications the user created


ROLES: dict[str, Role] = {
    r.slug: r
    for r in (
        Role("admin", "cluster_admin", _("Administrator"), ("cs:*",)),
        Role("operator", "cluster_operator", _("Operator"), (*READ, "cs:CreateApplication", *APP_WRITE)),
        Role("developer", "cluster_developer", _("Developer"), (*READ, "cs:CreateApplication"), APP_WRITE),
        Role("read-only", "cluster_readonly", _("Read-only"), READ),
    )
}
ROLE_BY_CODENAME = {r.codename: r for r in ROLES.values()}
# Strongest first: a principal holding several roles on a cluster is shown the strongest.
ROLE_ORDER = ("admin", "operator", "developer", "read-only")


def is_read_action(action: str) -> bool:
    """Whether ``action`` only reads (``cs:Describe*``, ``cs:Get*``, ``cs:List*``, ``ram:Get*``, ``ram:List*``)."""
    return any(action_matches(pattern, action) for pattern in READ_ACTIONS)
