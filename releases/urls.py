from django.urls import path

from releases import views

app_name = "releases"
urlpatterns = [
    path("applications/<int:pk>/releases/<int:release_id>/<str:control>/", views.release_control, name="control"),
]
