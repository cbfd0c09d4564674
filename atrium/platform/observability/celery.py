"""The request id travels into the tasks a request sends, and each task run has a log context.

The sender: every message published while a log context is bound carries its request id in
the ``atrium_request_id`` header (``before_task_publish``; a task sent by a task passes its
own on). The worker: each run binds a ``LogContext`` (``task_prerun``, reset at
``task_postrun``) with that id, or the task's own id when it was sent from no request (beat,
the CLI), so every line the run writes names its request and tenant. An eager run (tests)
keeps its caller's context.
"""

from __future__ import annotations

from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun

from atrium.tenants.celery import request_header

from . import context
from .context import REQUEST_ID_HEADER, LogContext

_TOKEN = "atrium_log_context_token"


@before_task_publish.connect(dispatch_uid="atrium_request_id_header")
def _add_request_id(sender=None, headers: dict | None = None, **_: Any) -> None:
    request_id = context.current_request_id()
    if request_id is not None and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


@task_prerun.connect(dispatch_uid="atrium_task_log_context")
def _bind_task_context(sender=None, task=None, task_id=None, **_: Any) -> None:
    task = task or sender
    request = task.request
    if getattr(request, "is_eager", False) and context.current() is not None:
        return  # runs inside its caller (and its caller's request)
    sent = request_header(request, REQUEST_ID_HEADER)
    request_id = context.clean_request_id(sent) if sent else str(task_id or request.id)
    token = context.push(LogContext(request_id=request_id, kind="task", path=task.name))
    setattr(request, _TOKEN, token)


@task_postrun.connect(dispatch_uid="atrium_task_log_context_reset")
def _reset_task_context(sender=None, task=None, **_: Any) -> None:
    task = task or sender
    token = getattr(task.request, _TOKEN, None)
    if token is not None:
        delattr(task.request, _TOKEN)
        context.pop(token)
