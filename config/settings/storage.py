"""Files (exports, imports): on the local filesystem, or in an S3-compatible bucket.

``ATRIUM_STORAGE=filesystem`` (the default: development and tests) keeps them under
``MEDIA_ROOT``, which is only shared by processes of one machine. ``ATRIUM_STORAGE=s3``
puts them in a bucket that every web and worker process reaches, wherever it runs (MinIO in
``docker-compose.yml``, or any S3 service). Either way the paths are the tenant's
(``atrium/platform/jobs/storage.py``): files are never public, downloads go through the API.
"""

from collections.abc import Mapping
from os import environ
from typing import Any

from django.core.exceptions import ImproperlyConfigured


def default_storage_from(env: Mapping[str, str]) -> dict[str, Any]:
    """The ``STORAGES["default"]`` entry that ``env``'s ATRIUM_STORAGE* variables ask for."""
    kind = env.get("ATRIUM_STORAGE", "filesystem").strip().lower() or "filesystem"
    if kind == "filesystem":
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    if kind != "s3":
        raise ImproperlyConfigured(
            f"ATRIUM_STORAGE={kind!r} is not a storage: set it to 'filesystem' or 's3'."
        )
    bucket = env.get("ATRIUM_S3_BUCKET", "").strip()
    if not bucket:
        raise ImproperlyConfigured("ATRIUM_STORAGE=s3 needs ATRIUM_S3_BUCKET (the bucket name).")
    options: dict[str, Any] = {
        "bucket_name": bucket,
        # Private objects: nothing is served from the bucket, every download goes through
        # the API, which checks the tenant first.
        "default_acl": None,
        "querystring_auth": True,
        # Paths are built by the server (job ids, random names); a name that exists is
        # deleted first on purpose (jobs.storage.save), never renamed behind our back.
        "file_overwrite": True,
        # MinIO and most self-hosted servers want path-style URLs (http://minio:9000/bucket).
        "addressing_style": env.get("ATRIUM_S3_ADDRESSING_STYLE", "path") or None,
    }
    # Unset: boto3's own chain (AWS_* variables, instance profile), as on AWS itself.
    given = {
        "endpoint_url": env.get("ATRIUM_S3_ENDPOINT_URL"),
        "region_name": env.get("ATRIUM_S3_REGION"),
        "access_key": env.get("ATRIUM_S3_ACCESS_KEY_ID"),
        "secret_key": env.get("ATRIUM_S3_SECRET_ACCESS_KEY"),
    }
    options.update({option: value for option, value in given.items() if value})
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


STORAGES = {
    "default": default_storage_from(environ),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
