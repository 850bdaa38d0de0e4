from django.urls import path

from routing import views

app_name = "routing"
urlpatterns = [
    path("<int:pk>/routing/", views.routing_page, name="page"),
    path("<int:pk>/routing/<str:change>/", views.routing_change, name="change"),
]
