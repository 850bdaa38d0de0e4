from django.urls import path

from apps import templates_views, views

app_name = "apps"
urlpatterns = [
    path("applications/", views.application_list, name="list"),
    path("applications/new/", views.application_create, name="create"),
    path("applications/<int:pk>/", views.application_detail, name="detail"),
    path("applications/<int:pk>/update/", views.application_update, name="update"),
    path("applications/<int:pk>/change/<str:change>/", views.application_change, name="change"),
    path("applications/<int:pk>/containers/<str:container>/", views.container_detail, name="container"),
    path(
        "applications/<int:pk>/containers/<str:container>/<str:change>/",
        views.container_change,
        name="container_change",
    ),
    path("applications/<int:pk>/<str:action>/", views.application_action, name="action"),
    path("templates/", templates_views.template_list, name="templates"),
    path("templates/new/", templates_views.template_edit, name="template_create"),
    path("templates/<int:pk>/", templates_views.template_edit, name="template_edit"),
    path("templates/<int:pk>/delete/", templates_views.template_delete, name="template_delete"),
    path("templates/<str:kind>/<str:key>/deploy/", templates_views.template_deploy, name="template_deploy"),
    path("config-sets/", templates_views.config_sets, name="config_sets"),
    path("config-sets/<str:name>/", templates_views.config_sets, name="config_set"),
    path("config-sets/<str:name>/delete/", templates_views.config_set_delete, name="config_set_delete"),
]
