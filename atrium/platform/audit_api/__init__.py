"""The audit log's API (``/api/v1/audit-events/``) and its export job.

Apart from ``atrium.platform.audit`` (the log itself: model, ``audit_record``, retention),
which the accounts and every other recording package import, so that this part may use the
accounts (roles) and the jobs (export, download) without an import cycle. Its tasks are
found by ``config/celery.py``.
"""
