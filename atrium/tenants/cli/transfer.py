"""``tenants export|import``: a whole tenant as one archive, and back under a new slug."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from atrium.tenants import archive

from .output import emit, human_size, tenant_as_dict
from .parsers import command, json_flag, tenant_command


def add_parsers(sub) -> None:
    p = tenant_command(
        sub,
        "export",
        "Write one archive of a tenant: its schema (pg_dump), files and a manifest.",
    )
    p.add_argument(
        "--output",
        "-o",
        help="Archive file (default: <slug>-<UTC time>.tar.gz; gzip when it ends in .tar.gz "
        "or .tgz, a plain tar otherwise).",
    )
    json_flag(p)

    p = command(sub, "import", help="Restore a tenant archive as a new tenant.")
    p.add_argument("file", help="An archive written by `tenants export`.")
    p.add_argument("--slug", required=True, help="The new tenant's slug (must be free).")
    p.add_argument("--domain", help="A custom domain, made primary (the subdomain is kept).")
    json_flag(p)


def export(cmd: BaseCommand, options) -> None:
    result = archive.tenant_export(slug=options["slug"], output=options["output"])
    emit(
        cmd,
        options,
        f"Exported {result.slug} (schema {result.schema_name}) to {result.path}: "
        f"{result.files} files ({human_size(result.file_bytes)}), "
        f"{result.migrations} migrations recorded, {human_size(result.archive_bytes)} in "
        f"{result.seconds:.1f} s.",
        {
            "slug": result.slug,
            "schema_name": result.schema_name,
            "path": str(result.path),
            "archive_bytes": result.archive_bytes,
            "files": result.files,
            "file_bytes": result.file_bytes,
            "migrations": result.migrations,
            "seconds": round(result.seconds, 3),
        },
    )


def import_(cmd: BaseCommand, options) -> None:
    result = archive.tenant_import(
        path=options["file"], slug=options["slug"], domain=options["domain"]
    )
    tenant = result.tenant
    migrated = f", {result.migrated} migrations applied" if result.migrated else ""
    emit(
        cmd,
        options,
        f"Imported {options['file']} as {tenant.slug} (schema {tenant.schema_name}, from "
        f"{result.source_slug}): {result.files} files{migrated}, in {result.seconds:.1f} s.\n"
        f"URL: {result.url}\n"
        "Sessions, tokens and keys of the source are not valid here; passwords are kept.",
        {
            **tenant_as_dict(tenant),
            "url": result.url,
            "source_slug": result.source_slug,
            "source_schema": result.source_schema,
            "files": result.files,
            "migrated": result.migrated,
            "seconds": round(result.seconds, 3),
        },
    )


HANDLERS = {"export": export, "import": import_}
