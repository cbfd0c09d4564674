"""ATRIUM_STORAGE picks where files go: the filesystem by default, or an S3-compatible
bucket, configured by variables only (config/settings/storage.py)."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from config.settings.storage import default_storage_from


def test_the_filesystem_is_the_default():
    assert default_storage_from({}) == {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    assert default_storage_from({"ATRIUM_STORAGE": "filesystem"}) == default_storage_from({})


def test_s3_takes_its_bucket_endpoint_and_keys_from_the_environment():
    assert default_storage_from(
        {
            "ATRIUM_STORAGE": "S3",
            "ATRIUM_S3_BUCKET": "atrium-files",
            "ATRIUM_S3_ENDPOINT_URL": "http://minio:9000",
            "ATRIUM_S3_REGION": "eu-west-1",
            "ATRIUM_S3_ACCESS_KEY_ID": "key",
            "ATRIUM_S3_SECRET_ACCESS_KEY": "secret",
        }
    ) == {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "atrium-files",
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": True,
            "addressing_style": "path",
            "endpoint_url": "http://minio:9000",
            "region_name": "eu-west-1",
            "access_key": "key",
            "secret_key": "secret",
        },
    }
    # On AWS itself: no endpoint, and boto3's own credentials (role, AWS_* variables).
    options = default_storage_from({"ATRIUM_STORAGE": "s3", "ATRIUM_S3_BUCKET": "b"})["OPTIONS"]
    assert not {"endpoint_url", "access_key", "secret_key", "region_name"} & set(options)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ATRIUM_STORAGE": "s3"}, "needs ATRIUM_S3_BUCKET"),
        ({"ATRIUM_STORAGE": "gcs"}, "set it to 'filesystem' or 's3'"),
    ],
)
def test_an_incomplete_or_unknown_storage_refuses_to_start(env, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        default_storage_from(env)


def test_each_backend_keeps_what_it_is_given(file_storage):
    """The same calls as the jobs' storage, on the filesystem and on a real S3 server."""
    name = default_storage.save("someone/exports/x.csv", ContentFile(b"a,b\n"))
    assert name == "someone/exports/x.csv"
    assert file_storage.files() == [name]
    with default_storage.open(name, "rb") as handle:
        assert handle.read() == b"a,b\n"
    assert default_storage.listdir("someone") == (["exports"], [])
    default_storage.delete(name)
    assert file_storage.files() == []
    with pytest.raises(FileNotFoundError):
        default_storage.open(name, "rb")
