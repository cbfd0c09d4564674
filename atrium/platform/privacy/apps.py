"""App config for person data: its routes under users/, and the account's own entries."""

from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "atrium.platform.privacy"
    label = "privacy"
    # /api/v1/users/{id}/data-export/ and /erase/ (the users router leaves these paths).
    api_prefix = "users/"

    def ready(self) -> None:
        from . import accounts_data
        from .registry import register

        register("account", collect=accounts_data.collect_account)
        register(
            "sessions", collect=accounts_data.collect_sessions, erase=accounts_data.erase_sessions
        )
        from . import audit_data

        register(
            "audit_events",
            collect=audit_data.collect_audit_events,
            erase=audit_data.erase_audit_events,
        )
