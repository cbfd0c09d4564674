"""What the cross-tenant suite (tests/isolation) needs of the audit log: a real entry of the
tenant in scope for its detail route, keyed by the route's path in the OpenAPI schema.
(``owner`` is a user; not imported: the log never imports the accounts, which import it.)"""

from typing import Any

from ..services import audit_record


def tenant_objects(*, owner, marker: str) -> dict[str, Any]:
    entry = audit_record("user.updated", target=owner, actor=owner, metadata={"marker": marker})
    return {"/api/v1/audit-events/{id}/": entry.pk}
