"""App config for invitations."""

from django.apps import AppConfig


class InvitationsConfig(AppConfig):
    name = "atrium.platform.invitations"
    label = "invitations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import events  # noqa: F401  (declares invitation.accepted)
