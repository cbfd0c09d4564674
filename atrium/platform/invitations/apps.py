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
        from . import events  # noqa: F401  (declares invitation.accepted)
