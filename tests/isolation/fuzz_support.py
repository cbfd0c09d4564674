"""Two committed tenants with a catalog, for the fuzz, stateful and load suites.

The fuzzers write through the real API, on committed data (so after-commit work runs: cache
invalidation, events, eager Celery tasks), on tenants of their own rather than the suite's
``alpha``/``beta``. Both tenants are on a plan with high rate limits, so a fuzzer's hundreds
of requests a second are not all answered 429, while throttling itself stays on.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import unquote

import schemathesis
from django.conf import settings
from django.test.utils import override_settings
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, Phase, given
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import ComponentInfo, FuzzingPhaseData
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from atrium.apps.catalog import services as catalog
from atrium.platform.accounts.models import Role, User
from atrium.platform.accounts.tokens import token_pair_issue
from atrium.platform.jobs import services as jobs
from atrium.tenants import pool, provisioning, services
from atrium.tenants.context import public_scope, tenant_scope
from atrium.tenants.models import Tenant
from tests.isolation.test_tokens import is_public

from .fuzz_settings import FUZZ_PLAN, FUZZ_RATE_LIMITS

FUZZ_SETTINGS = "tests.isolation.fuzz_settings"  # for servers started with tests/driver.py
PASSWORD = "Fuzz-Horse-Battery-42"


@contextmanager
def fuzz_plan() -> Iterator[None]:
    """This process's settings with the ``fuzz`` plan added, as ``FUZZ_SETTINGS`` has it."""
    with override_settings(
        ATRIUM_PLANS={**settings.ATRIUM_PLANS, FUZZ_PLAN: FUZZ_RATE_LIMITS},
        ATRIUM_RATE_LIMITS={**settings.ATRIUM_RATE_LIMITS, FUZZ_PLAN: FUZZ_RATE_LIMITS},
    ):
        yield


@dataclass
class SeededTenant:
    """A tenant, its owner's and a member's access tokens, and the ids of what it holds."""

    slug: str
    host: str
    tenant: Tenant
    owner_token: str
    member_token: str
    owner_id: str
    ids: dict[str, list[str]] = field(default_factory=dict)  # resource -> ids and slugs
    markers: set[str] = field(default_factory=set)  # strings only this tenant's data has

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"

    def keep_settings(self) -> None:
        """Turn the MFA rule off again: a fuzzer may legitimately turn it on (as the owner),
        and every later case would be 403 mfa_enrolment_required."""
        services.tenant_settings_update(slug=self.slug, require_mfa_for_admins=False)

    def keep_owner(self) -> None:
        """Make the owner an active owner again: a fuzzer may legitimately demote or
        deactivate it (once it has made another owner), and every later case would be 401."""
        with tenant_scope(self.tenant):
            owner = User.objects.get(pk=self.owner_id)
            if not owner.is_active or owner.role != Role.OWNER:
                owner.is_active = True
                owner.apply_role(Role.OWNER)
                owner.save()


def seed_tenant(slug: str, *, plan: str = FUZZ_PLAN) -> SeededTenant:
    """Create ``slug`` (committed) with two categories, three products, reviews and an export."""
    provisioning.tenant_create(
        slug=slug,
        name=f"Fuzz {slug}",
        owner_email=f"owner@{slug}.test",
        owner_password=PASSWORD,
        plan=plan,
    )
    with public_scope():
        tenant = Tenant.objects.get(slug=slug)
    # Every name, SKU and e-mail carries the slug: a body that holds another tenant's
    # marker has leaked across tenants.
    with tenant_scope(tenant):
        owner = User.objects.get(email=f"owner@{slug}.test")
        member = User.objects.create_with_role(
            f"member@{slug}.test", role=Role.MEMBER, password=PASSWORD, name=f"Member of {slug}"
        ).user
        garden = catalog.category_create(name=f"Garden {slug}")
        tools = catalog.category_create(name=f"Tools {slug}", parent=garden)
        products = [
            catalog.product_create(
                owner=owner if n % 2 else member,
                name=f"Product {slug} {n}",
                sku=f"{slug.upper()}-{n}",
                price=Decimal(f"{10 + n}.50"),
                stock=n,
                status="active" if n != 2 else "draft",
                category=garden if n % 2 else tools,
                description=f"Made by {slug}",
                tags=[slug, f"n{n}"],
            )
            for n in range(1, 4)
        ]
        reviews = [
            catalog.review_create(author=author, product=product, rating=rating, title=slug)
            for author, product, rating in (
                (member, products[0], 4),
                (owner, products[1], 2),
                (member, products[2], 5),
            )
        ]
        job = jobs.job_create(kind="catalog.export", created_by=owner)
        seeded = SeededTenant(
            slug=slug,
            host=f"{slug}.{settings.ATRIUM_BASE_DOMAIN}",
            tenant=tenant,
            owner_token=str(token_pair_issue(user=owner).access),
            member_token=str(token_pair_issue(user=member).access),
            owner_id=str(owner.pk),
            ids={
                "products": [str(p.pk) for p in products] + [p.slug for p in products],
                "categories": [str(c.pk) for c in (garden, tools)] + [garden.slug, tools.slug],
                "reviews": [str(r.pk) for r in reviews],
                "jobs": [str(job.pk)],
                "users": [str(owner.pk), str(member.pk)],
            },
        )
    seeded.markers = {
        *(value for values in seeded.ids.values() for value in values if "-" in value),
        f"@{slug}.test",
        f"{slug.upper()}-1",
        f"Made by {slug}",
    }
    return seeded


def drop_tenants(slugs: list[str]) -> None:
    with public_scope():
        for slug in slugs:
            if Tenant.objects.filter(slug=slug).exists():
                services.tenant_purge(slug=slug)
    pool.pool_fill(settings.ATRIUM_SPARE_POOL_SIZE)


@contextmanager
def seeded_pair(
    prefix: str, *, plan: str = FUZZ_PLAN
) -> Iterator[tuple[SeededTenant, SeededTenant]]:
    """Two seeded tenants ``<prefix>-a-<rand>`` and ``<prefix>-b-<rand>``, purged afterwards."""
    suffix = secrets.token_hex(3)
    slugs = [f"{prefix}-a-{suffix}", f"{prefix}-b-{suffix}"]
    try:
        yield seed_tenant(slugs[0], plan=plan), seed_tenant(slugs[1], plan=plan)
    finally:
        drop_tenants(slugs)


# --- Schemathesis campaign ------------------------------------------------------------------

RESOURCE_OF_PATH = {  # the collection whose {id} a path under it takes
    "/api/v1/catalog/products/": "products",
    "/api/v1/catalog/categories/": "categories",
    "/api/v1/catalog/reviews/": "reviews",
    "/api/v1/jobs/": "jobs",
    "/api/v1/users/": "users",
}
REFERENCE_FIELDS = {"category", "parent"}  # body fields that name a category by id


def resource_of(path: str) -> str | None:
    for prefix, resource in RESOURCE_OF_PATH.items():
        if path.startswith(prefix + "{"):
            return resource
    return None


@dataclass
class Finding:
    operation: str
    kind: str
    status: int
    detail: str
    request: str

    def key(self) -> tuple[str, str, int]:
        return (self.operation, self.kind, self.status)


@dataclass
class CampaignReport:
    cases: int = 0
    requests: int = 0
    per_operation: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def count(self, label: str, status: int) -> None:
        by_status = self.statuses.setdefault(label, {})
        by_status[str(status)] = by_status.get(str(status), 0) + 1

    def add(self, finding: Finding) -> None:
        if finding.key() not in {f.key() for f in self.findings}:
            self.findings.append(finding)

    def as_dict(self) -> dict:
        return {
            "cases": self.cases,
            "requests": self.requests,
            "per_operation": self.per_operation,
            "statuses": self.statuses,
            "findings": [vars(f) for f in self.findings],
        }


def response_checks() -> list:
    """Schemathesis' response checks that apply to one request: no 5xx, and status, content
    type, headers and body as the schema documents them; invalid input is refused."""
    return [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        negative_data_rejection,
    ]


def path_resolves(path: str) -> bool:
    """Whether the tenant URL conf routes ``path`` to a view (else the last pattern answers
    404 before any authentication runs, which says nothing about auth)."""
    try:
        match = resolve(path, urlconf=settings.ROOT_URLCONF)
    except Resolver404:
        return False
    return match.url_name != "unknown-url"  # atrium.platform.api.urls.fallback_urls


class Campaign:
    """Runs generated cases of every operation of ``home``'s schema on ``home``'s host with
    its owner's token, and checks each answer: the schemathesis checks above, no marker of
    ``other`` in any body, no 2xx for ``other``'s ids, and 401 when the same request comes
    without a token or with ``other``'s token (public routes excepted)."""

    def __init__(self, app, home: SeededTenant, other: SeededTenant) -> None:
        self.home = home
        self.other = other
        self.schema = schemathesis.openapi.from_wsgi("/api/schema/", app, base_url=home.base_url)
        self.checks = response_checks()
        self.negative = [c for c in self.checks if c.__name__ == "negative_data_rejection"]
        self.positive_checks = [c for c in self.checks if c not in self.negative]
        self.report = CampaignReport()

    def operations(self) -> list:
        return [result.ok() for result in self.schema.get_all_operations()]

    def run(
        self, *, examples: int, seed: int, deadline: float | None = None, only: str = ""
    ) -> CampaignReport:
        """Fuzz every operation (or those whose label contains ``only``)."""
        for operation in self.operations():
            if only and only not in operation.label:
                continue
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                self.run_operation(operation, mode, examples=examples, seed=seed, deadline=deadline)
        return self.report

    def run_operation(self, operation, mode, *, examples: int, seed: int, deadline) -> None:
        resource = resource_of(operation.path)
        positive = mode.name == "POSITIVE"
        # In positive cases, {id} and the body's category/parent are aimed at real rows half
        # the time: the home tenant's (found, changed, deleted) and the other tenant's (which
        # must never be found or linked from here). Negative cases keep what was generated.
        home_ids = self.home.ids.get(resource, []) if resource and positive else []
        other_ids = self.other.ids.get(resource, []) if resource and positive else []
        home_refs = [i for i in self.home.ids["categories"] if "-" in i and len(i) == 36]
        other_refs = [i for i in self.other.ids["categories"] if "-" in i and len(i) == 36]
        ids = st.one_of(st.none(), st.sampled_from(home_ids + other_ids)) if home_ids else st.none()
        refs = (
            st.one_of(st.none(), st.sampled_from(home_refs + other_refs)) if positive else st.none()
        )

        @hypothesis_settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @hypothesis_seed(seed)
        @given(case=operation.as_strategy(generation_mode=mode), target_id=ids, ref=refs)
        def probe(case, target_id, ref):
            if deadline is not None and time.monotonic() > deadline:
                return
            foreign = False
            if target_id is not None and "id" in (case.path_parameters or {}):
                case.path_parameters["id"] = target_id
                foreign = target_id in other_ids
            if ref is not None and isinstance(case.body, dict):
                for name in REFERENCE_FIELDS & set(case.body):
                    case.body[name] = ref
                    foreign = foreign or ref in other_refs
            self.check_case(case, foreign=foreign)

        try:
            probe()
        except Unsatisfiable:
            # Nothing of the operation can be made invalid (no parameters, no body): there
            # are no negative cases to send.
            if mode.name != "NEGATIVE":
                raise

    def call(self, case, token: str | None):
        """Send ``case`` with ``token`` (a bare token, or a whole Authorization value)."""
        if token and " " not in token and token.count(".") == 2:
            token = f"Bearer {token}"
        headers = {"Authorization": token} if token else {}
        self.report.requests += 1
        return case.call(base_url=self.home.base_url, headers=headers)

    def check_case(self, case, *, foreign: bool) -> None:

        label = case.operation.label
        generated_auth = self.take_credentials(case)
        # A case whose only negation was its Authorization header is valid once the owner's
        # token replaces it: it must not be expected to be refused.
        negated = [loc for loc, c in case.meta.components.items() if c.mode.is_negative]
        checks = self.checks if negated else self.positive_checks
        self.report.cases += 1
        self.report.per_operation[label] = self.report.per_operation.get(label, 0) + 1
        response = self.call(case, self.home.owner_token)
        self.report.count(label, response.status_code)
        body = response.request.body
        sent_body = f" {body[:300]!r}" if body else ""
        request = f"{case.method} {response.request.url}{sent_body}"
        self.validate(case, response, checks, request)
        if label.split()[1].startswith("/api/v1/users/"):
            self.home.keep_owner()
        if label.split()[1] == "/api/v1/tenant/":
            self.home.keep_settings()
        text = response.content.decode("utf-8", "replace")
        # A marker the request itself carried (another tenant's id sent in, echoed in a
        # "does not exist" error) is not a leak.
        sent = unquote(str(response.request.url)) + repr(response.request.body)
        other_markers = [m for m in self.other.markers if m not in sent]
        if leaked := sorted(marker for marker in other_markers if marker in text):
            detail = f"the body holds {leaked} of {self.other.slug}"
            self.report.add(
                Finding(label, "cross_tenant_data", response.status_code, detail, request)
            )
        if foreign and 200 <= response.status_code < 300:
            detail = f"{self.other.slug}'s object answered on {self.home.slug}"
            self.report.add(
                Finding(label, "cross_tenant_object", response.status_code, detail, request)
            )
        if is_public(case.operation.definition.raw):
            return
        path = response.request.path_url.split("?", 1)[0]
        replays = [("no token", None), (f"{self.other.slug}'s token", self.other.owner_token)]
        if generated_auth:
            replays.append((f"Authorization {generated_auth!r}", generated_auth))
        for who, token in replays:
            replay = self.call(case, token)
            self.validate(case, replay, self.positive_checks, f"{request} ({who})")
            if replay.status_code == 401 or (replay.status_code == 404 and not path_resolves(path)):
                continue
            detail = f"with {who}: {replay.content[:300]!r}"
            self.report.add(Finding(label, "auth_bypass", replay.status_code, detail, request))

    def validate(self, case, response, checks, request: str) -> None:
        try:
            case.validate_response(response, checks=checks)
        except FailureGroup as group:
            for failure in group.exceptions:
                detail = f"{failure.title}: {(failure.message or '')[:600]}"
                self.report.add(
                    Finding(
                        case.operation.label,
                        type(failure).__name__,
                        response.status_code,
                        detail,
                        request,
                    )
                )

    @staticmethod
    def take_credentials(case) -> str | None:
        """Remove the generated Authorization header from ``case`` (each call sets its own)
        and forget that it was the negated part; returns the generated value."""
        headers = dict(case.headers or {})
        generated = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        case.headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        location = ParameterLocation.HEADER
        component = case.meta.components.get(location)
        if component is not None and component.mode.is_negative:
            data = case.meta.phase.data
            others = [m for m in getattr(data, "mutations", ()) if m.parameter_location != location]
            # Only Authorization is a declared header: without it, the headers are valid.
            case.meta.components[location] = ComponentInfo(mode=GenerationMode.POSITIVE)
            if isinstance(data, FuzzingPhaseData):
                data.mutations = tuple(others)
                if data.parameter_location == location:
                    data.parameter_location = others[0].parameter_location if others else None
        return generated
