"""Routes of the auth API (mounted at ``/api/v1/auth/`` on every tenant host)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from .auth import (
    EmailConfirmView,
    LogoutView,
    PasswordResetConfirmView,
    PasswordResetView,
    TokenObtainView,
    TokenRefreshView,
    TokenVerifyView,
)
from .views import PasswordChangeView, SessionViewSet

router = SimpleRouter()
router.register("sessions", SessionViewSet, basename="auth-session")

urlpatterns = [
    path("token/", TokenObtainView.as_view(), name="auth-token"),
    path("token/refresh/", TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("token/verify/", TokenVerifyView.as_view(), name="auth-token-verify"),
    path("logout/", LogoutView.as_view(), name="auth-logout"),
    path("password/change/", PasswordChangeView.as_view(), name="auth-password-change"),
    path("password/reset/", PasswordResetView.as_view(), name="auth-password-reset"),
    path(
        "password/reset/confirm/",
        PasswordResetConfirmView.as_view(),
        name="auth-password-reset-confirm",
    ),
    path("email/confirm/", EmailConfirmView.as_view(), name="auth-email-confirm"),
    *router.urls,
]
