"""Seed demo catalogs: ``python manage.py seed_catalog acme globex`` (idempotent)."""

import random
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError

from atrium.apps.catalog import services
from atrium.apps.catalog.models import Product, ProductStatus
from atrium.platform.accounts.models import Role, User
from atrium.tenants.context import public_scope, tenant_scope
from atrium.tenants.models import Tenant

CATALOGS = {
    "acme": {
        "Rockets": ["Rocket skates", "Jet-propelled pogo stick", "Rocket sled", "Booster pack"],
        "Traps": ["Giant magnet", "Anvil", "Spring-loaded boxing glove", "Bird seed (iron)"],
        "Disguises": ["Fake tunnel paint", "Invisible paint", "Bat-man outfit", "Instant hole"],
    },
    "globex": {
        "Energy": ["Fusion cell", "Solar array", "Capacitor bank", "Turbine blade"],
        "Security": ["Laser grid", "Biometric lock", "Surveillance drone", "Panic room kit"],
        "Office": ["Standing desk", "Hammock chair", "Volcano lair lamp", "Doomsday clock"],
    },
}
DEFAULT_CATALOG = CATALOGS["acme"]
ADJECTIVES = ["Deluxe", "Mini", "Pro", "Classic", "Turbo", "Eco", "Max", "Lite", "Ultra"]
REVIEW_TITLES = ["Works as advertised", "Exploded, as expected", "Great value", "Meh", "Superb"]


class Command(BaseCommand):
    help = "Give tenants a demo catalog (categories, ~50 products, reviews); skips seeded ones."

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="+", help="Tenant slugs, e.g. acme globex.")
        parser.add_argument("--products", type=int, default=50, help="Products per tenant.")

    def handle(self, *args, slugs, products, **options):
        if products < 0:
            raise CommandError("--products must be 0 or more.")
        for slug in slugs:
            with public_scope():
                tenant = Tenant.objects.filter(slug=slug).first()
            if tenant is None:
                raise CommandError(f"No tenant with the slug {slug!r}.")
            with tenant_scope(tenant):
                if Product.all_objects.exists():
                    self.stdout.write(f"{slug:<8} catalog exists")
                    continue
                count = self.seed(slug, products)
            self.stdout.write(f"{slug:<8} seeded {count} products")

    def seed(self, slug: str, count: int) -> int:
        rng = random.Random(slug)
        owner = User.objects.filter(role=Role.OWNER).order_by("date_joined").first()
        if owner is None:
            raise CommandError(f"Tenant {slug!r} has no owner to own the demo products.")
        reviewers = [owner] + [
            User.objects.get_or_create(
                email=f"reviewer{i}@{slug}.test", defaults={"name": f"Reviewer {i}"}
            )[0]
            for i in range(1, 5)
        ]
        catalog = CATALOGS.get(slug, DEFAULT_CATALOG)
        categories = [services.category_create(name=name) for name in catalog]
        for index in range(count):
            category = categories[index % len(categories)]
            base = catalog[category.name][index // len(categories) % len(catalog[category.name])]
            product = services.product_create(
                owner=owner,
                name=f"{rng.choice(ADJECTIVES)} {base} {index + 1}",
                sku=f"{slug[:3].upper()}-{index + 1:04d}",
                price=Decimal(rng.randint(100, 99_999)) / 100,
                stock=rng.choice([0, 3, 10, 25, 100]),
                status=rng.choice([ProductStatus.ACTIVE] * 4 + [ProductStatus.DRAFT]),
                category=category,
                description=f"The {base.lower()} every {slug} customer asks for.",
                tags=rng.sample(["new", "sale", "bestseller", "eco", "heavy", "fragile"], 2),
            )
            for author in rng.sample(reviewers, rng.randint(0, 3)):
                services.review_create(
                    author=author,
                    product=product,
                    rating=rng.randint(1, 5),
                    title=rng.choice(REVIEW_TITLES),
                )
        return count
