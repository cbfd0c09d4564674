"""App config for sign-up (platform host, public schema)."""

from django.apps import AppConfig


class SignupConfig(AppConfig):
    name = "atrium.platform.signup"
    label = "signup"
    default_auto_field = "django.db.models.BigAutoField"
