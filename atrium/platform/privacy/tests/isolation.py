"""The cross-tenant matrices' hook (tests/isolation/conftest.py): a real person per route."""

from atrium.platform.accounts.models import Role, User


def tenant_objects(*, owner, marker: str) -> dict:
    person = User.objects.create_with_role(
        f"person-{marker}@{marker}.test", role=Role.MEMBER, name=f"Person {marker}"
    ).user
    return {
        "/api/v1/users/{id}/data-export/": person.pk,
        "/api/v1/users/{id}/erase/": person.pk,
    }
