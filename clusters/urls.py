from django.urls import path

from clusters import views

app_name = "clusters"
urlpatterns = [
    path("", views.cluster_list, name="list"),
    path("new/", views.cluster_create, name="create"),
    path("<int:pk>/", views.cluster_detail, name="detail"),
    path("<int:pk>/<str:change>/", views.cluster_change, name="change"),
    path("nodes/", views.node_list, name="nodes"),
    path("nodes/<int:pk>/", views.node_detail, name="node"),
    path("nodes/<int:pk>/<str:change>/", views.node_change, name="node_change"),
    path("<int:pk>/certificates/<str:serial>/revoke/", views.certificate_revoke, name="certificate_revoke"),
    path("registry-credentials/", views.registry_credentials, name="registry_credentials"),
    path("registry-credentials/<int:pk>/delete/", views.registry_credential_delete, name="registry_credential_delete"),
]
