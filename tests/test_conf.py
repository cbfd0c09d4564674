"""atrium_settings: Atrium's settings through one accessor, each with one declared default."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.test import override_settings

from atrium.conf import DEFAULTS, atrium_settings
from tests.fixtures import REPO_ROOT


def test_every_declared_setting_reads_the_django_setting_of_its_name(settings):
    assert DEFAULTS
    for name in DEFAULTS:
        assert getattr(atrium_settings, name) == getattr(settings, f"ATRIUM_{name}"), name


def test_an_override_applies_at_access_time(settings):
    before = atrium_settings.SPARE_POOL_SIZE
    with override_settings(ATRIUM_SPARE_POOL_SIZE=before + 7):
        overridden = atrium_settings.SPARE_POOL_SIZE
    after = atrium_settings.SPARE_POOL_SIZE
    assert (overridden, after) == (before + 7, before)
    settings.ATRIUM_TRUSTED_PROXY_COUNT = 3
    assert atrium_settings.TRUSTED_PROXY_COUNT == 3


def test_a_setting_the_settings_leave_out_has_its_declared_default(settings):
    del settings.ATRIUM_JSON_MAX_DEPTH
    assert atrium_settings.JSON_MAX_DEPTH == DEFAULTS["JSON_MAX_DEPTH"] == 32


def test_an_apps_settings_are_declared_by_the_app_not_by_the_shared_settings(settings):
    from atrium.apps.catalog.conf import DEFAULTS as CATALOG_DEFAULTS

    assert set(CATALOG_DEFAULTS) == {
        "IMPORT_MAX_BYTES",
        "IMPORT_LOCK_SECONDS",
        "SOFT_DELETE_RETENTION_DAYS",
    }
    for name, default in CATALOG_DEFAULTS.items():
        assert not hasattr(settings, f"ATRIUM_{name}"), name
        assert getattr(atrium_settings, name) == default, name
    assert atrium_settings.IMPORT_MAX_BYTES == 5 * 1024 * 1024
    settings.ATRIUM_IMPORT_LOCK_SECONDS = 5
    assert atrium_settings.IMPORT_LOCK_SECONDS == 5


def test_an_undeclared_name_is_refused_with_where_to_declare_it():
    with pytest.raises(AttributeError, match=r"ATRIUM_NO_SUCH_THING.*atrium/conf\.py"):
        _ = atrium_settings.NO_SUCH_THING
    with pytest.raises(AttributeError, match=r"drop the prefix.*atrium_settings\.BASE_DOMAIN"):
        _ = atrium_settings.ATRIUM_BASE_DOMAIN


def test_the_environment_sets_a_default_when_the_module_is_imported():
    script = (
        "import json; from atrium.conf import DEFAULTS as d; "
        "print(json.dumps([d['SPARE_POOL_SIZE'], d['BASE_DOMAIN'], d['PUBLIC_HOSTS']]))"
    )
    env = {"PATH": "/usr/bin:/bin", "ATRIUM_SPARE_POOL_SIZE": "9", "ATRIUM_BASE_DOMAIN": "Ex.COM."}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [9, "ex.com", ["www.ex.com"]]


def test_the_module_is_a_leaf_that_every_layer_may_import():
    script = (
        "import sys, atrium.conf; print(sorted(m for m in sys.modules if m.startswith('atrium')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["['atrium',", "'atrium.conf']"]
