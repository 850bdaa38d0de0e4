"""The action catalogue: every RAM action, the resource it applies to, and the pages and endpoints needing it.

Pages declare their actions with ``accounts.pages.page(...)``; API views with ``action_map``. The
catalogue walks the URL configuration, so it cannot drift from the code; ``docs/ram.md`` is
generated from it (``manage.py ram_catalogue``) and a test keeps the two equal.
"""

from __future__ import annotations

import re
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

from console.api import view_actions

CLUSTER = "acs:cs:<region>:<tenant-id>:cluster/<cluster-id>"
APP = f"{CLUSTER}/application/<app-name>"
NODE = f"{CLUSTER}/node/<node-name>"
TEMPLATE = "acs:cs:*:<tenant-id>:template/<name>"
CONFIGSET = "acs:cs:*:<tenant-id>:configset/<name>"
LOG_RETENTION = "acs:cs:*:<tenant-id>:logretention"
OPLOG = "acs:cs:*:<tenant-id>:operationlog, or " + CLUSTER + "/operationlog"
USER = "acs:ram:*:<tenant-id>:user/<name>"
GROUP = "acs:ram:*:<tenant-id>:group/<name>"
POLICY = "acs:ram:*:<tenant-id>:policy/<name>"
TENANT = "acs:ram:*:<tenant-id>:*"
REGISTRY = "acs:cs:*:<tenant-id>:registrycredential/<registry>"
HOST = "acs:cs:*:<tenant-id>:host"
CERTIFICATE = "acs:cs:*:<tenant-id>:certificate/<name>"

ACTIONS: dict[str, tuple[str, str]] = {
    "cs:DescribeClusters": (CLUSTER, "See a cluster and its summary."),
    "cs:DescribeClusterNodes": (NODE, "See the nodes of a cluster."),
    "cs:AddClusterNodes": (CLUSTER, "Register a Docker host as a node of the cluster."),
    "cs:CreateCluster": (CLUSTER, "Create a cluster (with its own certificate authority)."),
    "cs:ModifyCluster": (CLUSTER, "Rename a cluster; change its zones, root domain and system services."),
    "cs:DeleteCluster": (CLUSTER, "Delete a cluster (refused while it has applications unless forced)."),
    "cs:ModifyClusterNode": (NODE, "Edit a node's labels and zone."),
    "cs:RemoveClusterNodes": (NODE, "Drain a node and remove it from the cluster."),
    "cs:ResetClusterNode": (NODE, "Remove every Berth container from a node."),
    "cs:CreateAttachScript": (CLUSTER, "Make a one-line attach command with a one-time token."),
    "cs:AttachNode": ("(the one-time token)", "The attach script's own calls; the token is the credential."),
    "cs:IssueClusterCertificate": (
        CLUSTER,
        "Issue oneself a short-lived client certificate for the cluster's engines (full Docker access).",
    ),
    "cs:DescribeClusterCertificates": (CLUSTER, "See the client certificates issued for a cluster (no keys)."),
    "cs:RevokeClusterCertificate": (CLUSTER, "Revoke a client certificate (recorded; engines honour it by expiry)."),
    "cs:RotateClusterCertificates": (
        CLUSTER,
        "Give the cluster a new CA (ends every certificate issued before on rotated engines); renew commands.",
    ),
    "cs:RenewNodeCertificates": (NODE, "A node runs on the cluster's new CA (rotation or its renew command)."),
    "cs:RetireClusterNode": (NODE, "System: a node never identified is removed (its engine is not the tenant's)."),
    "cs:DescribeRegistryCredentials": (REGISTRY, "See the tenant's registry credentials (never their passwords)."),
    "cs:CreateRegistryCredential": (REGISTRY, "Store a registry credential used for pulls on the tenant's nodes."),
    "cs:UpdateRegistryCredential": (REGISTRY, "Change a registry credential's user name or password."),
    "cs:DeleteRegistryCredential": (REGISTRY, "Delete a registry credential."),
    "cs:GrantHostAccess": (HOST, "System: the operator lets the tenant use the machine Berth runs on."),
    "cs:RevokeHostAccess": (HOST, "System: the operator takes back the use of the machine Berth runs on."),
    "cs:RescheduleContainers": (CLUSTER, "System: recreate containers of an unreachable node elsewhere."),
    "cs:MigrateContainer": (APP, "One container moved to another node during a drain."),
    "cs:NodeReady": (NODE, "System: a node answers again (health check)."),
    "cs:JoinClusterNetwork": (NODE, "System: a node joined the cluster network (the first one makes it)."),
    "cs:LeaveClusterNetwork": (NODE, "System: a node that is removed left the cluster network."),
    "cs:RecoverClusterNetwork": (NODE, "System: a manager that lost its quorum took the cluster network over alone."),
    "cs:DescribeClusterNetworks": (CLUSTER, "See the cluster network and the networks applications share."),
    "cs:CreateClusterNetwork": (CLUSTER, "Make a network that applications of the cluster share (external)."),
    "cs:DeleteClusterNetwork": (CLUSTER, "Delete a shared network no application uses."),
    "cs:DescribeRoutes": (CLUSTER, "See the cluster's routing service: its routers, routes and their backends."),
    "cs:ModifyRouting": (CLUSTER, "Turn the cluster's routing service on or off; set its ports."),
    "cs:ModifyRoute": (APP, "Set a service's weight on a route of its application; redirect the route to https."),
    "cs:DescribeCertificates": (CERTIFICATE, "See the tenant's web certificates (names and expiry, never keys)."),
    "cs:UploadCertificate": (CERTIFICATE, "Store a web certificate and key the routers serve on https routes."),
    "cs:DeleteCertificate": (CERTIFICATE, "Delete a web certificate (the routers stop serving it)."),
    "cs:NodeUnreachable": (NODE, "System: a node stopped answering (health check)."),
    "cs:RemoveStaleContainers": (NODE, "System: old copies of moved containers removed from a returning node."),
    "cs:DescribeApplications": (APP, "See applications, their containers and releases."),
    "cs:CreateApplication": (CLUSTER, "Deploy a new application to the cluster."),
    "cs:StartApplication": (APP, "Start an application's containers."),
    "cs:StopApplication": (APP, "Stop an application's containers."),
    "cs:RestartApplication": (APP, "Restart an application's containers."),
    "cs:DeleteApplication": (APP, "Delete an application, its containers and network."),
    "cs:CancelRelease": (APP, "Ask a running release of the application to stop."),
    "cs:ControlRelease": (
        APP,
        "Pause and resume a rolling release of the application; shift a blue-green release's traffic, confirm "
        "it or roll it back.",
    ),
    "cs:ExecContainer": (
        APP,
        "Open a terminal in a running container of the application, or run one command in it (each session and "
        "command is in the operation log).",
    ),
    "cs:DescribeTemplates": (TEMPLATE, "See orchestration templates."),
    "cs:CreateTemplate": (TEMPLATE, "Create a template."),
    "cs:UpdateTemplate": (TEMPLATE, "Edit a template."),
    "cs:DeleteTemplate": (TEMPLATE, "Delete a template."),
    "cs:UpdateApplication": (APP, "Update an application to a new template version or variables; roll back."),
    "cs:RollbackApplication": (APP, "Restore a previous version of an application."),
    "cs:RedeployApplication": (APP, "Pull the images again and recreate every container."),
    "cs:KillApplication": (APP, "Kill (SIGKILL) every container of an application."),
    "cs:ScaleService": (APP, "Change the number of containers of a service."),
    "cs:RestartContainer": (APP, "Restart one container of an application."),
    "cs:StopContainer": (APP, "Stop one container of an application."),
    "cs:RemoveContainer": (APP, "Remove one container (a redeploy or scale recreates it)."),
    "cs:ModifyContainer": (APP, "The outcome of a container action (restart, stop, remove) in the log."),
    "cs:DescribeConfigSets": (CONFIGSET, "See config sets (secret values are never shown)."),
    "cs:ModifyLogRetention": (
        LOG_RETENTION,
        "Set how many days and megabytes of its containers' collected output the tenant keeps.",
    ),
    "cs:CreateConfigSet": (CONFIGSET, "Create a config set."),
    "cs:UpdateConfigSet": (CONFIGSET, "Change a config set (and redeploy the applications using it)."),
    "cs:DeleteConfigSet": (CONFIGSET, "Delete a config set no application uses."),
    "cs:UseConfigSet": (CONFIGSET, "Deploy or update applications with a config set (its secrets reach them)."),
    "cs:DescribeOperationLogs": (OPLOG, "Read the operation log (of the tenant, or of one cluster)."),
    "cs:DescribeUserPermissions": (CLUSTER, "See the role grants on clusters."),
    "cs:GrantPermissions": (CLUSTER, "Grant a sub-account or group a role on the cluster."),
    "cs:RevokePermissions": (CLUSTER, "Remove a role grant on the cluster."),
    "ram:ListUsers": (USER, "List RAM users."),
    "ram:GetUser": (USER, "See one RAM user."),
    "ram:CreateUser": (USER, "Create a sub-account."),
    "ram:UpdateUser": (USER, "Change a user's display name, disable or enable it."),
    "ram:DeleteUser": (USER, "Delete a sub-account."),
    "ram:ChangePassword": (USER, "Change one's own password (every user may; logged)."),
    "ram:UpdateLoginProfile": (USER, "Set another user's console password."),
    "ram:CreateVirtualMFADevice": (USER, "Enable TOTP MFA for oneself (every user may; logged)."),
    "ram:DeleteVirtualMFADevice": (USER, "Disable one's TOTP MFA with a current code (every user may; logged)."),
    "ram:ListAccessKeys": (USER, "List a user's access keys."),
    "ram:CreateAccessKey": (USER, "Create an access key (at most two per user; the secret is shown once)."),
    "ram:UpdateAccessKey": (USER, "Disable or enable an access key."),
    "ram:DeleteAccessKey": (USER, "Delete an access key."),
    "ram:ListGroups": (GROUP, "List RAM groups."),
    "ram:GetGroup": (GROUP, "See one group and its members."),
    "ram:CreateGroup": (GROUP, "Create a group."),
    "ram:UpdateGroup": (GROUP, "Rename a group or set its members."),
    "ram:AddUserToGroup": (GROUP, "Add a member to a group."),
    "ram:RemoveUserFromGroup": (GROUP, "Remove a member from a group."),
    "ram:DeleteGroup": (GROUP, "Delete a group."),
    "ram:ListPolicies": (POLICY, "List system and custom policies."),
    "ram:GetPolicy": (POLICY, "See a policy and its versions."),
    "ram:CreatePolicy": (POLICY, "Create a custom policy."),
    "ram:CreatePolicyVersion": (POLICY, "Add a version to a custom policy (five are kept)."),
    "ram:ListPolicyVersions": (POLICY, "List a policy's versions."),
    "ram:SetDefaultPolicyVersion": (POLICY, "Choose the version in force."),
    "ram:DeletePolicyVersion": (POLICY, "Delete a version that is not the default."),
    "ram:DeletePolicy": (POLICY, "Delete a custom policy attached to nobody."),
    "ram:ListPoliciesForUser": (USER, "List the policies attached to a user."),
    "ram:ListPoliciesForGroup": (GROUP, "List the policies attached to a group."),
    "ram:AttachPolicyToUser": (USER, "Attach a policy to a sub-account."),
    "ram:DetachPolicyFromUser": (USER, "Detach a policy from a sub-account."),
    "ram:AttachPolicyToGroup": (GROUP, "Attach a policy to a group."),
    "ram:DetachPolicyFromGroup": (GROUP, "Detach a policy from a group."),
    "ram:SimulatePolicy": (USER, "Ask the policy simulator how a user's request would be decided."),
    "ram:SetPasswordPolicy": (TENANT, "Change the tenant's password policy."),
    "ram:ListActions": ("*", "Read this catalogue (public)."),
    "sts:GetCallerIdentity": (USER, "See who one is: the account id and one's own resource name (every user may)."),
}


def _walk(patterns: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found.extend(_walk(entry.url_patterns, route))
        elif isinstance(entry, URLPattern):
            found.append((route, entry.callback))
    return found


def _clean(route: str) -> str:
    route = route.replace("^", "").replace("$", "")
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def usage() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(pages, endpoints) per action, read from the URL configuration."""
    pages: dict[str, list[str]] = {}
    endpoints: dict[str, list[str]] = {}
    for route, callback in _walk(get_resolver().url_patterns):
        for method, action in view_actions(callback).items():
            endpoints.setdefault(action, []).append(f"{method} {_clean(route)}")
        for action in getattr(callback, "berth_actions", ()):
            pages.setdefault(action, []).append(_clean(route))
    return pages, endpoints


def catalogue() -> list[dict[str, Any]]:
    """Every action with its resource, description, pages and endpoints, sorted by name."""
    pages, endpoints = usage()
    return [
        {
            "action": name,
            "resource": resource,
            "description": description,
            "pages": sorted(set(pages.get(name, []))),
            "endpoints": sorted(set(endpoints.get(name, []))),
        }
        for name, (resource, description) in sorted(ACTIONS.items())
    ]


def unknown_actions() -> list[str]:
    """Actions used by pages or endpoints but missing from ``ACTIONS`` (a test keeps this empty)."""
    pages, endpoints = usage()
    return sorted((set(pages) | set(endpoints)) - set(ACTIONS))


def markdown() -> str:
    """docs/ram.md."""
    lines = [
        "# RAM action catalogue",
        "",
        "Generated by `python manage.py ram_catalogue` from the code (pages declare their actions with",
        "`accounts.pages.page`, API views with `action_map`); a test fails when this file is out of date.",
        "Browsable in the console at *RAM → Actions* and at `GET /api/v1/ram/actions`.",
        "",
        'Policies use Alibaba RAM syntax: `{"Version": "1", "Statement": [{"Effect", "Action", "Resource",',
        '"Condition"}]}`; `*` and `?` are wildcards; action names are case-insensitive. A statement on a',
        "cluster covers what is inside it (its applications, nodes, containers, releases and log entries).",
        "Effective permission = same tenant AND (primary account OR allowed by a policy OR granted by a",
        "cluster role) AND no explicit Deny.",
        "",
        "Cluster roles (RAM → Authorizations): **admin** `cs:*` on the cluster; **operator** read, deploy,",
        "scale and release on every application; **developer** read and deploy, and manage the",
        "applications it created; **read-only** `cs:Describe*`, `cs:Get*`, `cs:List*`.",
        "",
        "| action | resource | what | console pages | API endpoints |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in catalogue():
        lines.append(
            f"| `{row['action']}` | `{row['resource']}` | {row['description']} | "
            f"{'<br>'.join(f'`{p}`' for p in row['pages']) or '—'} | "
            f"{'<br>'.join(f'`{e}`' for e in row['endpoints']) or '—'} |"
        )
    return "\n".join(lines) + "\n"
