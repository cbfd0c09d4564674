"""Routes of the auth API (mounted at ``/api/v1/auth/`` on every tenant host)."""

from django.urls import path

from .auth import LogoutView, TokenObtainView, TokenRefreshView, TokenVerifyView

urlpatterns = [
    path("token/", TokenObtainView.as_view(), name="auth-token"),
    path("token/refresh/", TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("token/verify/", TokenVerifyView.as_view(), name="auth-token-verify"),
    path("logout/", LogoutView.as_view(), name="auth-logout"),
]
