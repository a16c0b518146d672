from django.urls import path

from passkey_edge import views

urlpatterns = [
    path("api/health", views.health),
    path("api/me", views.me),
    path("api/sensitive", views.sensitive),
]
