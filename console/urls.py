"""URLs: console pages, the REST API under /api/v1, its schema and Swagger UI."""

from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import api as ram_api
from apps import api as apps_api
from clusters import api as clusters_api
from clusters import network_api
from console import api_views, views
from observability import api as observability_api
from releases import api as releases_api
from routing import api as routing_api

app_name = "console"

api_v1 = [
    path("clusters", clusters_api.ClusterListView.as_view(), name="api-clusters"),
    path("clusters/<int:cluster_id>", clusters_api.ClusterDetailView.as_view(), name="api-cluster"),
    path("clusters/<int:cluster_id>/nodes", clusters_api.NodeListView.as_view(), name="api-nodes"),
    path("clusters/<int:cluster_id>/nodes/<str:node>", clusters_api.NodeDetailView.as_view(), name="api-node"),
    path(
        "clusters/<int:cluster_id>/nodes/<str:node>/reset", clusters_api.NodeResetView.as_view(), name="api-node-reset"
    ),
    path(
        "clusters/<int:cluster_id>/attach-command", clusters_api.AttachCommandView.as_view(), name="api-attach-command"
    ),
    path("clusters/<int:cluster_id>/certs", clusters_api.CertsView.as_view(), name="api-certs"),
    path("clusters/<int:cluster_id>/rotate-ca", clusters_api.ClusterRotateView.as_view(), name="api-rotate-ca"),
    path(
        "clusters/<int:cluster_id>/nodes/<str:node>/renew-command",
        clusters_api.NodeRenewCommandView.as_view(),
        name="api-node-renew-command",
    ),
    path(
        "clusters/<int:cluster_id>/certificates",
        clusters_api.UserCertificateListView.as_view(),
        name="api-cluster-certificates",
    ),
    path(
        "clusters/<int:cluster_id>/certificates/<str:serial>",
        clusters_api.UserCertificateDetailView.as_view(),
        name="api-cluster-certificate",
    ),
    path("clusters/<int:cluster_id>/networks", network_api.NetworkListView.as_view(), name="api-networks"),
    path("clusters/<int:cluster_id>/networks/<str:name>", network_api.NetworkDetailView.as_view(), name="api-network"),
    path("clusters/<int:cluster_id>/routing", routing_api.RoutingView.as_view(), name="api-routing"),
    path("clusters/<int:cluster_id>/routes", routing_api.RouteListView.as_view(), name="api-routes"),
    path("clusters/<int:cluster_id>/listeners", routing_api.ListenerListView.as_view(), name="api-listeners"),
    path("clusters/<int:cluster_id>/routes/<int:route_id>", routing_api.RouteDetailView.as_view(), name="api-route"),
    path("certificates", routing_api.CertificateListView.as_view(), name="api-certificates"),
    path("certificates/<int:certificate_id>", routing_api.CertificateDetailView.as_view(), name="api-certificate"),
    path("registry-credentials", clusters_api.RegistryCredentialListView.as_view(), name="api-registry-credentials"),
    path(
        "registry-credentials/<int:credential_id>",
        clusters_api.RegistryCredentialDetailView.as_view(),
        name="api-registry-credential",
    ),
    path("node-tasks/<int:task_id>", clusters_api.NodeTaskDetailView.as_view(), name="api-node-task"),
    path("attach/<str:token>/script", clusters_api.AttachScriptView.as_view(), name="api-attach-script"),
    path(
        "attach/<str:token>/certificates", clusters_api.AttachCertificatesView.as_view(), name="api-attach-certificates"
    ),
    path("attach/<str:token>/register", clusters_api.AttachRegisterView.as_view(), name="api-attach-register"),
    path("clusters/<int:cluster_id>/applications", apps_api.ApplicationListView.as_view(), name="api-applications"),
    path(
        "clusters/<int:cluster_id>/applications/<str:name>",
        apps_api.ApplicationDetailView.as_view(),
        name="api-application",
    ),
    path(
        "clusters/<int:cluster_id>/events", observability_api.ClusterEventListView.as_view(), name="api-cluster-events"
    ),
    path(
        "clusters/<int:cluster_id>/applications/<str:name>/events",
        observability_api.ApplicationEventListView.as_view(),
        name="api-application-events",
    ),
    path(
        "clusters/<int:cluster_id>/applications/<str:name>/logs",
        observability_api.ApplicationLogsView.as_view(),
        name="api-application-logs",
    ),
    path(
        "clusters/<int:cluster_id>/applications/<str:name>/logs/download",
        observability_api.ApplicationLogsDownloadView.as_view(),
        name="api-application-logs-download",
    ),
    path("log-retention", observability_api.LogRetentionView.as_view(), name="api-log-retention"),
    path(
        "clusters/<int:cluster_id>/applications/<str:name>/metrics",
        observability_api.ApplicationMetricsView.as_view(),
        name="api-application-metrics",
    ),
    path(
        "clusters/<int:cluster_id>/metrics", observability_api.ClusterMetricsView.as_view(), name="api-cluster-metrics"
    ),
    *[
        path(
            f"clusters/<int:cluster_id>/applications/<str:name>/{action}",
            apps_api.ApplicationActionView.as_view(
                action_name=action, action_map={"POST": f"cs:{action.capitalize()}Application"}
            ),
            name=f"api-application-{action}",
        )
        for action in ("start", "stop", "restart", "kill", "redeploy", "rollback")
    ],
    path(
        "clusters/<int:cluster_id>/applications/<str:name>/services/<str:service>/scale",
        apps_api.ScaleView.as_view(),
        name="api-service-scale",
    ),
    path(
        "clusters/<int:cluster_id>/applications/<str:name>/versions",
        apps_api.VersionsView.as_view(),
        name="api-application-versions",
    ),
    path(
        "clusters/<int:cluster_id>/applications/<str:name>/containers/<str:container>",
        apps_api.ContainerDetailView.as_view(),
        name="api-container",
    ),
    path(
        "clusters/<int:cluster_id>/applications/<str:name>/containers/<str:container>/logs",
        apps_api.ContainerLogsView.as_view(),
        name="api-container-logs",
    ),
    path(
        "clusters/<int:cluster_id>/applications/<str:name>/containers/<str:container>/exec",
        observability_api.ContainerExecView.as_view(),
        name="api-container-exec",
    ),
    *[
        path(
            f"clusters/<int:cluster_id>/applications/<str:name>/containers/<str:container>/{action}",
            apps_api.ContainerActionView.as_view(
                action_name=action, action_map={"POST": f"cs:{action.capitalize()}Container"}
            ),
            name=f"api-container-{action}",
        )
        for action in ("restart", "stop", "remove")
    ],
    path("templates", apps_api.TemplateListView.as_view(), name="api-templates"),
    path("templates/validate", apps_api.TemplateValidateView.as_view(), name="api-templates-validate"),
    path("templates/<str:name>", apps_api.TemplateDetailView.as_view(), name="api-template"),
    path("config-sets", apps_api.ConfigSetListView.as_view(), name="api-config-sets"),
    path("config-sets/<str:name>", apps_api.ConfigSetDetailView.as_view(), name="api-config-set"),
    path("releases/<int:release_id>", apps_api.ReleaseDetailView.as_view(), name="api-release"),
    path("releases/<int:release_id>/cancel", apps_api.ReleaseCancelView.as_view(), name="api-release-cancel"),
    path("releases/<int:release_id>/pause", releases_api.ReleasePauseView.as_view(), name="api-release-pause"),
    path("releases/<int:release_id>/resume", releases_api.ReleaseResumeView.as_view(), name="api-release-resume"),
    path("releases/<int:release_id>/weight", releases_api.ReleaseWeightView.as_view(), name="api-release-weight"),
    path("releases/<int:release_id>/confirm", releases_api.ReleaseConfirmView.as_view(), name="api-release-confirm"),
    path("releases/<int:release_id>/rollback", releases_api.ReleaseRollbackView.as_view(), name="api-release-rollback"),
    path("operation-logs", api_views.OperationLogListView.as_view(), name="api-operation-logs"),
    path("ram/users", ram_api.RamUserListView.as_view(), name="api-ram-users"),
    path("ram/users/<str:name>", ram_api.RamUserDetailView.as_view(), name="api-ram-user"),
    path("ram/users/<str:name>/policies", ram_api.AttachmentListView.as_view(), name="api-ram-user-policies"),
    path(
        "ram/users/<str:name>/policies/<str:policy>", ram_api.AttachmentDetailView.as_view(), name="api-ram-user-policy"
    ),
    path("ram/users/<str:name>/access-keys", ram_api.AccessKeyListView.as_view(), name="api-ram-access-keys"),
    path(
        "ram/users/<str:name>/access-keys/<str:key_id>",
        ram_api.AccessKeyDetailView.as_view(),
        name="api-ram-access-key",
    ),
    path("ram/groups", ram_api.RamGroupListView.as_view(), name="api-ram-groups"),
    path("ram/groups/<str:name>", ram_api.RamGroupDetailView.as_view(), name="api-ram-group"),
    path(
        "ram/groups/<str:name>/policies",
        ram_api.AttachmentListView.as_view(
            kind="group", action_map={"GET": "ram:ListPoliciesForGroup", "POST": "ram:AttachPolicyToGroup"}
        ),
        name="api-ram-group-policies",
    ),
    path(
        "ram/groups/<str:name>/policies/<str:policy>",
        ram_api.AttachmentDetailView.as_view(kind="group", action_map={"DELETE": "ram:DetachPolicyFromGroup"}),
        name="api-ram-group-policy",
    ),
    path("ram/policies", ram_api.PolicyListView.as_view(), name="api-ram-policies"),
    path("ram/policies/<str:name>", ram_api.PolicyDetailView.as_view(), name="api-ram-policy"),
    path("ram/policies/<str:name>/versions", ram_api.PolicyVersionsView.as_view(), name="api-ram-policy-versions"),
    path("ram/grants", ram_api.GrantListView.as_view(), name="api-ram-grants"),
    path("ram/grants/<str:grant_id>", ram_api.GrantDetailView.as_view(), name="api-ram-grant"),
    path("ram/simulate", ram_api.SimulateView.as_view(), name="api-ram-simulate"),
    path("ram/actions", ram_api.ActionCatalogueView.as_view(), name="api-ram-actions"),
    path("account", ram_api.AccountView.as_view(), name="api-account"),
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
]

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    # What browsers and tools ask for whatever a page links: the console's icon (a temporary redirect, so a new
    # icon or static address is picked up).
    path(
        "favicon.ico",
        RedirectView.as_view(url=lazy(static, str)("img/berth.svg"), http_method_names=["get", "head"]),
        name="favicon",
    ),
    path("operation-logs/", views.operation_logs, name="operation_logs"),
    path("api/v1/", include(api_v1)),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="console:api-schema"), name="api-docs"),
]
