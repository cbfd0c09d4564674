"""App config for API keys: where its API is mounted, what it adds to a person's data."""

from django.apps import AppConfig


class ApiKeysConfig(AppConfig):
    name = "atrium.platform.apikeys"
    label = "apikeys"
    default_auto_field = "django.db.models.BigAutoField"
    # Mounted at /api/v1/api-keys/ by config/urls_tenant.py (atrium.platform.api.urls).
    api_prefix = "api-keys/"
    # Run on a restored tenant by `tenants import`: the source's keys are not credentials
    # of the copy (their hashes are bound to the old tenant id as well).
    tenant_import_resets = (
        "UPDATE apikeys_apikey SET revoked = true, revoked_at = now() WHERE NOT revoked",
    )

    def ready(self) -> None:
        from atrium.platform.privacy.registry import register

        from . import events, personal_data  # noqa: F401  (events declares api_key.*)

        register(
            "api_keys", collect=personal_data.collect_api_keys, erase=personal_data.erase_api_keys
        )
