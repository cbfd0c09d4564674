"""CSV export and import of a tenant's products, run as jobs.

Import is all-or-nothing: every row is validated first (a bad row is reported with its
line, field and code), then all rows are applied in one transaction, under the tenant's
import lock so two imports of one tenant never run at once. Rows match existing products by
SKU (case-insensitive): a match is updated, anything else created. A row follows the API's
permission rules (``permissions.may_change_product``, the predicate the API's PATCH asks):
a member's row that matches a product they may not change is refused (``permission_denied``),
and then, like any bad row, nothing of the file is written.

Cells that a spreadsheet would run as a formula (OWASP's CSV injection: a cell starting with
``=``, ``+``, ``-``, ``@``, tab or CR) are exported with a leading single quote, which
spreadsheets show as text. A value that itself starts with a quote gets one more, so that
the import can undo exactly what the export added: it drops one leading quote where the next
character is one of those or a quote. An export imported again is the same data.
"""

from __future__ import annotations

import csv
import io
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models.functions import Lower

from atrium.conf import atrium_settings
from atrium.errors import AtriumError, InvalidInput, PayloadTooLarge
from atrium.platform.audit.services import acting_as, audit_record
from atrium.platform.jobs import services as jobs
from atrium.platform.jobs import storage
from atrium.platform.jobs.models import Job
from atrium.platform.redis import LockHeld, tenant_lock
from atrium.tenants.quotas import quota_reserved

from . import services
from .models import Category, Product, ProductStatus
from .permissions import may_change_product

COLUMNS = ["sku", "name", "description", "price", "stock", "status", "category", "tags"]
REQUIRED = {"sku", "name", "price", "category"}
EXPORT_BATCH = 500
MAX_REPORTED_ERRORS = 20


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"
_ESCAPED_STARTS = (*FORMULA_STARTS, QUOTE)


def escape_cell(value: Any) -> str:
    """The cell as exported: formulas (and values starting with a quote) get a quote."""
    text = str(value)
    return QUOTE + text if text.startswith(_ESCAPED_STARTS) else text


def unescape_cell(text: str) -> str:
    """The exact inverse of ``escape_cell``: ``unescape_cell(escape_cell(v)) == str(v)``."""
    return text[1:] if text.startswith(QUOTE) and text[1:].startswith(_ESCAPED_STARTS) else text


class ImportRejected(InvalidInput):
    """The upload cannot be read at all (encoding, columns): refused before any job."""

    code = "import_invalid"


class ImportTooLarge(PayloadTooLarge):
    """The file is larger than this catalog's import takes (the request itself is limited
    before it is read, by ``ATRIUM_REQUEST_MAX_BYTES``)."""

    code = "file_too_large"


@dataclass
class RowError:
    line: int
    field: str
    message: str
    code: str = "invalid"

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "code": self.code, "message": self.message}


class RowsRefused(Exception):
    """Rows that cannot be applied: the import's transaction rolls back."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(errors)
        self.errors = errors


def _failed_rows(errors: list[RowError]) -> dict[str, Any]:
    """A failed import's job error: what to do, and each refused row with its code."""
    return {
        "code": "rows_refused",
        "message": "Nothing was imported: correct the rows listed and upload the file again.",
        "rows": [error.as_dict() for error in errors],
    }


# ----------------------------------------------------------------------------- export


def export_run(*, job: Job) -> None:
    jobs.job_start(job=job)
    products = Product.objects.select_related("category").order_by("sku")
    total = products.count()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    done = 0
    for product in products.iterator(chunk_size=EXPORT_BATCH):
        cells = [
            product.sku,
            product.name,
            product.description,
            product.price,
            product.stock,
            product.status,
            product.category.slug,
            ";".join(product.tags),
        ]
        writer.writerow([escape_cell(cell) for cell in cells])
        done += 1
        if done % EXPORT_BATCH == 0:
            jobs.job_progress(job=job, percent=done * 100 // max(total, 1) - 1)
    path = storage.save(f"exports/{job.pk}.csv", buffer.getvalue().encode("utf-8"))
    jobs.job_finish(job=job, result={"rows": done}, output_path=path)


# ----------------------------------------------------------------------------- import


def import_accept(*, upload) -> str:
    """Check what can be checked at once (size, encoding, header) and store the upload."""
    if upload.size > atrium_settings.IMPORT_MAX_BYTES:
        raise ImportTooLarge(
            f"The file is larger than {atrium_settings.IMPORT_MAX_BYTES} bytes, the most an "
            "import takes: split it into several files."
        )
    raw = upload.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRejected(
            "The file is not UTF-8 text: save it as CSV UTF-8.",
            code="invalid_encoding",
            field="file",
        ) from None
    header = next(csv.reader(io.StringIO(text)), [])
    missing = sorted(REQUIRED - {column.strip().lower() for column in header})
    if missing:
        raise ImportRejected(
            f"Missing column(s): {', '.join(missing)}. Expected: {', '.join(COLUMNS)}.",
            code="missing_columns",
            field="file",
        )
    return storage.save(f"imports/{uuid.uuid4().hex}.csv", raw)


def _parse(text: str) -> tuple[list[tuple[int, dict[str, Any]]], list[RowError]]:
    reader = csv.DictReader(io.StringIO(text))
    reader.fieldnames = [name.strip().lower() for name in reader.fieldnames or []]
    categories = {c.slug: c for c in Category.objects.all()}
    rows: list[tuple[int, dict[str, Any]]] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for line, raw in enumerate(reader, start=2):
        row, problem = _parse_row(raw, line, categories)
        if problem:
            errors.append(problem)
        elif row["sku"].lower() in seen:
            errors.append(
                RowError(
                    line,
                    "sku",
                    f"Duplicate SKU in the file (also on line {seen[row['sku'].lower()]}).",
                    code="duplicate",
                )
            )
        else:
            seen[row["sku"].lower()] = line
            rows.append((line, row))
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
    return rows, errors


def _parse_row(raw: dict, line: int, categories: dict) -> tuple[dict[str, Any], RowError | None]:
    def value(name: str) -> str:
        return unescape_cell((raw.get(name) or "").strip())

    for name in ("sku", "name", "price", "category"):
        if not value(name):
            return {}, RowError(line, name, "This field is required.", code="required")
    if len(value("sku")) > 64 or len(value("name")) > 200:
        field = "sku" if len(value("sku")) > 64 else "name"
        return {}, RowError(line, field, "Too long.", code="max_length")
    try:
        price = Decimal(value("price"))
        if price < 0 or price.as_tuple().exponent < -2 or price > Decimal("9999999999.99"):
            raise InvalidOperation
    except InvalidOperation:
        return {}, RowError(line, "price", f"Not a price: {value('price')!r}.")
    try:
        stock = int(value("stock") or 0)
        if stock < 0:
            raise ValueError
    except ValueError:
        return {}, RowError(line, "stock", f"Not a stock count: {value('stock')!r}.")
    status = value("status") or ProductStatus.DRAFT
    if status not in ProductStatus.values:
        return {}, RowError(line, "status", f"Unknown status {status!r}.", code="invalid_choice")
    category = categories.get(value("category"))
    if category is None:
        return {}, RowError(
            line,
            "category",
            f"No category with the slug {value('category')!r}.",
            code="does_not_exist",
        )
    tags = [tag for tag in value("tags").split(";") if tag.strip()]
    return {
        "sku": value("sku"),
        "name": value("name"),
        "description": value("description"),
        "price": price,
        "stock": stock,
        "status": status,
        "category": category,
        "tags": tags,
    }, None


def import_run(*, job: Job) -> None:
    try:
        # Owned by the job: its own redelivery after a worker died takes the lock over.
        with tenant_lock(
            "catalog-import",
            timeout=atrium_settings.IMPORT_LOCK_SECONDS,
            blocking_timeout=0,
            owner=f"job:{job.pk}",
        ):
            _import_locked(job)
    except LockHeld as error:
        jobs.job_finish(
            job=job,
            error={
                "code": error.code,
                "message": "Another import of this "
                "catalog is running; try again when it has finished.",
            },
        )
    finally:
        storage.delete(job.input_path)


def _import_locked(job: Job) -> None:
    jobs.job_start(job=job)
    with storage.open_for_tenant(job.input_path) as handle:
        text = handle.read().decode("utf-8-sig")
    rows, errors = _parse(text)
    if errors:
        jobs.job_finish(job=job, error=_failed_rows(errors))
        return
    created = updated = 0
    current_line = 0  # reported if a row fails while applying
    step = max(len(rows) // 20, 1)
    try:
        with transaction.atomic(), ExitStack() as claim, acting_as(job.created_by):
            existing = _existing_products(rows)
            _check_permissions(job.created_by, rows, existing)
            # The new rows' products are claimed at once (one count, not one per row); past
            # the plan's quota nothing is written.
            new_rows = sum(1 for _, row in rows if row["sku"].lower() not in existing)
            claim.enter_context(quota_reserved("products", new_rows))
            for index, (line, row) in enumerate(rows, start=1):
                current_line = line
                product = existing.get(row["sku"].lower())
                if product is None:
                    services.product_create(owner=job.created_by, **row)
                    created += 1
                else:
                    services.product_update(product=product, **row)
                    updated += 1
                if index % step == 0:
                    jobs.job_progress(job=job, percent=index * 100 // len(rows) - 1)
            audit_record(
                "catalog.imported",
                target=job,
                target_label=job.kind,
                metadata={"created": created, "updated": updated},
            )
    except RowsRefused as refused:
        jobs.job_finish(job=job, error=_failed_rows(refused.errors))
        return
    except AtriumError as error:  # the whole import rolled back; report the row
        row_error = RowError(current_line, error.field or "", error.message, code=error.code)
        jobs.job_finish(job=job, error=_failed_rows([row_error]))
        return
    jobs.job_finish(job=job, result={"created": created, "updated": updated})


def _existing_products(rows: list[tuple[int, dict[str, Any]]]) -> dict[str, Product]:
    """The live products the rows match by SKU, locked until the import commits."""
    wanted = [row["sku"].lower() for _, row in rows]
    matches = (
        Product.objects.annotate(sku_key=Lower("sku"))
        .filter(sku_key__in=wanted)
        .select_for_update()
    )
    return {product.sku.lower(): product for product in matches}


def _check_permissions(user, rows, existing: dict[str, Product]) -> None:
    """Refuse, before anything is written, every row the API would refuse this user."""
    refused = [
        RowError(
            line,
            "sku",
            f"You may not change the product {product.sku!r}: only its owner, or the "
            "tenant's owners and admins, may.",
            code="permission_denied",
        )
        for line, row in rows
        if (product := existing.get(row["sku"].lower())) is not None
        and not may_change_product(user, product)
    ]
    if refused:
        raise RowsRefused(refused[:MAX_REPORTED_ERRORS])
