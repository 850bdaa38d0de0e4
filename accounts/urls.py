from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("setup/", views.setup, name="setup"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("ram/", views.ram, name="ram"),
    path("ram/access-keys/", views.access_key_create, name="access_key_create"),
    path("ram/access-keys/<str:key_id>/delete/", views.access_key_delete, name="access_key_delete"),
]
