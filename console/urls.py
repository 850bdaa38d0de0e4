"""URLs: console pages, the REST API under /api/v1, its schema and Swagger UI."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps import api as apps_api
from clusters import api as clusters_api
from console import api_views, views

app_name = "console"

api_v1 = [
    path("clusters", clusters_api.ClusterListView.as_view(), name="api-clusters"),
    path("clusters/<int:cluster_id>", clusters_api.ClusterDetailView.as_view(), name="api-cluster"),
    path("clusters/<int:cluster_id>/applications", apps_api.ApplicationListView.as_view(), name="api-applications"),
    path(
        "clusters/<int:cluster_id>/applications/<str:name>",
        apps_api.ApplicationDetailView.as_view(),
        name="api-application",
    ),
    *[
        path(
            f"clusters/<int:cluster_id>/applications/<str:name>/{action}",
            apps_api.ApplicationActionView.as_view(action_name=action),
            name=f"api-application-{action}",
        )
        for action in ("start", "stop", "restart")
    ],
    path("releases/<int:release_id>", apps_api.ReleaseDetailView.as_view(), name="api-release"),
    path("releases/<int:release_id>/cancel", apps_api.ReleaseCancelView.as_view(), name="api-release-cancel"),
    path("operation-logs", api_views.OperationLogListView.as_view(), name="api-operation-logs"),
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
]

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("operation-logs/", views.operation_logs, name="operation_logs"),
    path("api/v1/", include(api_v1)),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="console:api-schema"), name="api-docs"),
]
