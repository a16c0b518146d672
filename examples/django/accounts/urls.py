from django.urls import path

from . import views

urlpatterns = [
    path("csrf/", views.csrf),
    path("signup/", views.signup),
    path("login/", views.login_with_password),
    path("passkey-edge/login/", views.login_with_access_token),
    path("logout/", views.logout_view),
    path("me/", views.me),
    path("password/", views.change_password),
    path("two-factor/", views.two_factor_status),
    path("two-factor/setup/", views.two_factor_setup),
]
