from django.urls import path

from observability import views

app_name = "observability"
urlpatterns = [
    path("metrics", views.prometheus_metrics, name="metrics"),
    path("clusters/<int:pk>/events/", views.cluster_events, name="cluster_events"),
    path("applications/<int:pk>/events/", views.application_events, name="application_events"),
    path("applications/<int:pk>/logs/", views.application_logs, name="application_logs"),
    path("applications/<int:pk>/containers/<str:container>/terminal/", views.container_terminal, name="terminal"),
]
