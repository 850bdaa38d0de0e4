from django.urls import path

from routing import views

app_name = "certificates"
urlpatterns = [
    path("", views.certificates_page, name="list"),
    path("<int:pk>/delete/", views.certificate_delete, name="delete"),
]
