"""The cross-tenant matrices' hook (tests/isolation/conftest.py): a real key per route."""

from atrium.platform.apikeys import services


def tenant_objects(*, owner, marker: str) -> dict:
    created = services.api_key_create(actor=owner, name=f"Key {marker}", scopes=["read"])
    return {"/api/v1/api-keys/{id}/": created.api_key.pk}
