"""Cluster roles (Alibaba's "Authorizations"): what a grant of each role on one cluster allows.

A grant is a guardian object permission (``clusters.cluster_<role>``) of a user or a group on a
cluster. Patterns use the policy wildcards; the developer's ``own`` actions apply only to
applications the user created.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

READ = ("cs:Describe*", "cs:Get*", "cs:List*")
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
    "cs:CancelRelease",
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
