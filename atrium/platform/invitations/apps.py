"""App config for invitations."""

from django.apps import AppConfig


class InvitationsConfig(AppConfig):
    name = "atrium.platform.invitations"
    label = "invitations"
    default_auto_field = "django.db.models.BigAutoField"
    # Run on a restored tenant by `tenants import`: links mailed by the source are not
    # credentials of the copy; its pending invitations are revoked (invite again).
    tenant_import_resets = (
        "UPDATE invitations_invitation SET revoked_at = now() "
        "WHERE accepted_at IS NULL AND revoked_at IS NULL",
    )

    def ready(self) -> None:
        from atrium.platform.privacy.registry import register

        from . import events, personal_data  # noqa: F401  (events declares invitation.accepted)

        register(
            "invitations",
            collect=personal_data.collect_invitations,
            erase=personal_data.erase_invitations,
        )
