"""A few seconds of ``benchmarks/load.py``'s load on a live server: mixed reads and writes of
several tenants over HTTP, WebSocket clients on each, and not one error or response or
event of another tenant. ``ATRIUM_LOAD_*`` size the run (``benchmarks/load.py`` runs this
test at full size and keeps its figures)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest

from benchmarks.load import LoadTenant, run_load
from tests.driver import Server

from .fuzz_support import FUZZ_SETTINGS, drop_tenants, fuzz_plan, seed_tenant


def setting(name: str, default: str) -> str:
    return os.environ.get(f"ATRIUM_LOAD_{name}", default)


@pytest.fixture(scope="module")
def load_tenants(django_db_setup, django_db_blocker):
    count = int(setting("TENANTS", "3"))
    suffix = secrets.token_hex(3)
    slugs = [f"ld-{chr(ord('a') + n)}-{suffix}" for n in range(count)]
    with django_db_blocker.unblock(), fuzz_plan():
        try:
            yield [seed_tenant(slug) for slug in slugs]
        finally:
            drop_tenants(slugs)


def test_load_across_tenants_without_errors_or_leaks(load_tenants):
    tenants = [
        LoadTenant(
            slug=seeded.slug,
            host=seeded.host,
            token=seeded.owner_token,
            category=seeded.ids["categories"][0],
            products=[i for i in seeded.ids["products"] if len(i) == 36],
        )
        for seeded in load_tenants
    ]
    with Server(env={"DJANGO_SETTINGS_MODULE": FUZZ_SETTINGS}, log_level="warning") as server:
        summary = run_load(
            port=server.port,
            tenants=tenants,
            clients=int(setting("CLIENTS", "6")),
            duration=float(setting("SECONDS", "4")),
            sockets_per_tenant=int(setting("SOCKETS", "1")),
            seed=int(setting("SEED", "1")),
        )
        server_log = server.log_tail(40)
    if target := os.environ.get("ATRIUM_LOAD_REPORT"):
        Path(target).write_text(json.dumps(summary, indent=2))
    print(f"load: {json.dumps({k: summary[k] for k in ('responses', 'errors', 'latency')})}")
    assert summary["errors"] == 0, f"{summary['error_samples']}\n{server_log}"
    assert summary["cross_tenant"] == []
    assert summary["responses"] > 0 and summary["products_created"] > 0
    # Every socket stayed open and heard each write of its own tenant.
    assert summary["events"].get("sockets_open") == summary["sockets"]
    assert summary["events"].get("product.created", 0) > 0
    assert summary["deliveries_received"] == summary["deliveries_expected"]
