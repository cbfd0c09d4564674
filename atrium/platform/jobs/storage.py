"""Per-tenant file storage: every path starts with the tenant's storage folder (its schema
name, ``keyspace.storage_root_for_schema``), built server-side; a purge deletes the folder.

Files are never served as public media: downloads go through an API view that finds the
job in the requesting tenant's schema first, so another tenant's path is unreachable.
"""

from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage

from atrium.tenants.context import current_tenant
from atrium.tenants.keyspace import storage_root_for_schema


def _root() -> str:
    return storage_root_for_schema(current_tenant().schema_name)


def tenant_path(*parts: str) -> str:
    return "/".join([_root(), *parts])


def save(relative_path: str, content: bytes | File) -> str:
    path = tenant_path(relative_path)
    data = content if isinstance(content, File) else ContentFile(content)
    if default_storage.exists(path):
        default_storage.delete(path)
    return default_storage.save(path, data)


def open_for_tenant(path: str):
    """Open a stored file, refusing any path outside the current tenant's folder."""
    if not path.startswith(_root() + "/") or ".." in path.split("/"):
        raise PermissionError("That file does not belong to this tenant.")
    return default_storage.open(path, "rb")


def delete(path: str) -> None:
    if path and default_storage.exists(path):
        default_storage.delete(path)
