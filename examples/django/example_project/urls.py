from django.contrib import admin
from django.urls import include, path

from passkey_edge import views

urlpatterns = [
    path("api/health", views.health),
    path("api/me", views.me),
    path("api/sensitive", views.sensitive),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
]
