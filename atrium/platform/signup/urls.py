"""Routes of sign-up (mounted at ``/api/v1/signup/`` on the platform host only)."""

from django.urls import path

from .views import SignupConfirmView, SignupView

urlpatterns = [
    path("", SignupView.as_view(), name="signup"),
    path("confirm/", SignupConfirmView.as_view(), name="signup-confirm"),
]
