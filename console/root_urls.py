"""The root URL configuration."""

from django.urls import include, path

urlpatterns = [
    path("", include("console.urls")),
    path("", include("accounts.urls")),
    path("", include("observability.urls")),  # before clusters' and apps': their <pk>/<change>/ would take events/
    path("clusters/", include("routing.urls")),  # before clusters': its <pk>/<change>/ would take <pk>/routing/
    path("clusters/", include("clusters.urls")),
    path("certificates/", include("routing.certificate_urls")),
    path("", include("releases.urls")),
    path("", include("apps.urls")),
]
