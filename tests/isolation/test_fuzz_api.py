"""Schemathesis fuzzes the whole tenant API in process (WSGI), on a tenant with data.

Every generated case goes to tenant A's host with A's owner token and must get no 5xx and an
answer the schema documents; its body must hold nothing of tenant B, B's ids must not be
found from A, and the same request without a token or with B's token must get 401 (public
routes excepted). ``ATRIUM_FUZZ_EXAMPLES`` / ``ATRIUM_FUZZ_SEED`` / ``ATRIUM_FUZZ_REPORT``
size, seed and record a longer campaign (``benchmarks/fuzz.py``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from .fuzz_support import Campaign, fuzz_plan, seeded_pair

# The budget grows with every route the schema documents; the suite's 300 s default is a
# hang guard, and this test makes hundreds of requests on purpose.
pytestmark = pytest.mark.timeout(900)

MIN_CASES = 1000


@pytest.fixture(scope="module")
def fuzz_tenants(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), fuzz_plan(), seeded_pair("fz") as pair:
        yield pair


def test_fuzz_tenant_api(fuzz_tenants):
    from config.wsgi import application

    home, other = fuzz_tenants
    examples = int(os.environ.get("ATRIUM_FUZZ_EXAMPLES", "20"))
    seed = int(os.environ.get("ATRIUM_FUZZ_SEED", "20261201"))
    budget = float(os.environ.get("ATRIUM_FUZZ_SECONDS", "0")) or None
    campaign = Campaign(application, home, other)
    started = time.monotonic()
    only = os.environ.get("ATRIUM_FUZZ_ONLY", "")  # e.g. "POST /api/v1/catalog/categories/"
    report = campaign.run(
        examples=examples, seed=seed, deadline=started + budget if budget else None, only=only
    )
    elapsed = time.monotonic() - started
    if target := os.environ.get("ATRIUM_FUZZ_REPORT"):
        record = {"examples_per_operation_and_mode": examples, "seed": seed, "seconds": elapsed}
        Path(target).write_text(json.dumps({**record, **report.as_dict()}, indent=2))
    print(f"fuzz: {report.cases} cases, {report.requests} requests in {elapsed:.1f} s")
    assert report.findings == [], "\n".join(
        f"{f.operation} [{f.kind} {f.status}] {f.detail}\n    {f.request}" for f in report.findings
    )
    if not only:
        assert report.cases >= MIN_CASES, report.per_operation
        assert len(report.per_operation) == len(campaign.operations())
