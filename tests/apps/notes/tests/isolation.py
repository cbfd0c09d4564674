"""What the cross-tenant suite (tests/isolation) needs of this app: a real object of the
tenant in scope for each route of the app that takes an id, keyed by the route's path in
the OpenAPI schema. The suite calls ``tenant_objects`` for both tenants of every run."""

from typing import Any

from atrium.platform.accounts.models import User

from .. import services


def tenant_objects(*, owner: User, marker: str) -> dict[str, Any]:
    note = services.note_create(author=owner, title=f"Note {marker}", body=marker)
    return {"/api/v1/notes/{id}/": note.pk}
