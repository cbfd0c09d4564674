"""The audit log's export job: the entries the list's filters select (all of them without
any), newest first, as NDJSON or CSV in the tenant's storage, downloaded through the jobs
API (``/api/v1/jobs/{id}/download/``)."""

from __future__ import annotations

import csv
import io
import json
import tempfile

from django.core.files import File
from django.core.serializers.json import DjangoJSONEncoder

from atrium.platform.audit import selectors
from atrium.platform.audit.models import AuditEvent
from atrium.platform.jobs import services as jobs
from atrium.platform.jobs import storage
from atrium.platform.jobs.models import Job

from .serializers import FIELDS, audit_filters

# The job kind of each format; the filters are in the job's result from its submission
# (``{"filters": {"action": …}}``, as the list's query string spells them).
EXPORT_KINDS = {"ndjson": "audit.export.ndjson", "csv": "audit.export.csv"}
BATCH = 2000
# Spilled to disk past this size, so a big log never sits in a worker's memory.
SPOOL_BYTES = 8 * 1024 * 1024
JSON_CELLS = ("changes", "metadata")
# A spreadsheet runs a cell that starts with one of these as a formula: such a cell (a
# product's name, a user agent) gets a leading quote in the CSV.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _row(entry: AuditEvent) -> dict:
    return {
        name: (entry.at.isoformat() if name == "at" else getattr(entry, name)) for name in FIELDS
    }


def export_run(*, job: Job) -> None:
    jobs.job_start(job=job)
    fmt = "csv" if job.kind == EXPORT_KINDS["csv"] else "ndjson"
    filters = job.result.get("filters", {})
    entries = selectors.audit_event_list(filters=audit_filters(filters))
    total = entries.count()
    done = 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b") as spool:
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
        writer = csv.DictWriter(text, fieldnames=FIELDS) if fmt == "csv" else None
        if writer is not None:
            writer.writeheader()
        for entry in entries.iterator(chunk_size=BATCH):
            row = _row(entry)
            if writer is not None:
                for name in JSON_CELLS:
                    row[name] = json.dumps(row[name], cls=DjangoJSONEncoder, sort_keys=True)
                writer.writerow({name: _csv_cell(value) for name, value in row.items()})
            else:
                text.write(json.dumps(row, cls=DjangoJSONEncoder, sort_keys=True) + "\n")
            done += 1
            if done % BATCH == 0:
                jobs.job_progress(job=job, percent=done * 100 // max(total, 1) - 1)
        text.flush()
        spool.seek(0)
        path = storage.save(f"exports/{job.pk}.{fmt}", File(spool))
        text.detach()
    jobs.job_finish(
        job=job, result={"rows": done, "format": fmt, "filters": filters}, output_path=path
    )
