"""Logs: the request id (kept, replaced, made, answered), the access line, the context of
every record, the production (JSON) and development (text) formats."""

from __future__ import annotations

import io
import logging

import pytest
from django.test import Client
from rest_framework.test import APIClient

from atrium.platform.accounts.models import User
from atrium.platform.observability.context import LogContext, bind
from atrium.platform.observability.logs import ContextFilter, TextFormatter
from atrium.tenants.context import tenant_scope
from config.settings.observability import logging_config

ME = "/api/v1/users/me/"


def owner(tenant) -> User:
    with tenant_scope(tenant):
        return User.objects.get(email=f"owner@{tenant.slug}.test")


# ----------------------------------------------------------------------------- X-Request-ID


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["alpha.localhost", "localhost", "nobody.localhost"])
def test_a_valid_incoming_request_id_is_kept_and_answered(tenant_a, host):
    incoming = "Abc-123_x.y" + "z" * 117  # 128 characters, every allowed kind
    response = Client(HTTP_HOST=host).get("/healthz", HTTP_X_REQUEST_ID=incoming)
    assert response["X-Request-ID"] == incoming


@pytest.mark.django_db
@pytest.mark.parametrize(
    "incoming",
    ["a" * 129, "has space", "new\nline", 'quote"d', "semi;colon", "ünïcode", ""],
)
def test_any_other_request_id_is_replaced(tenant_a, incoming):
    response = Client(HTTP_HOST="alpha.localhost").get("/healthz", HTTP_X_REQUEST_ID=incoming)
    answered = response["X-Request-ID"]
    assert answered != incoming
    assert len(answered) == 32 and answered.isalnum()


@pytest.mark.django_db
def test_a_missing_request_id_is_made_fresh_for_each_request(tenant_a):
    client = Client(HTTP_HOST="alpha.localhost")
    first, second = client.get("/healthz"), client.get("/healthz")
    assert first["X-Request-ID"] != second["X-Request-ID"]
    # Refusals of routing and the JSON 404 carry it too.
    assert Client(HTTP_HOST="nobody.localhost").get("/")["X-Request-ID"]
    assert client.get("/no/such/url/")["X-Request-ID"]


# ----------------------------------------------------------------------------- access line


@pytest.mark.django_db
def test_one_access_line_per_request_with_every_field(tenant_a, json_logs):
    user = owner(tenant_a)
    client = APIClient(HTTP_HOST="alpha.localhost")
    client.force_authenticate(user)
    response = client.get(ME, HTTP_X_REQUEST_ID="req-42")
    assert response.status_code == 200
    [line] = json_logs.records("atrium.access")
    assert line["tenant"] == "alpha"
    assert line["tenant_id"] == str(tenant_a.pk)
    assert line["request_id"] == "req-42"
    assert line["user_id"] == str(user.pk)
    assert line["api_key_id"] is None  # the slot for API keys
    assert line["method"] == "GET"
    assert line["path"] == ME
    assert line["route"] == "api/v1/users/me/"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["level"] == "INFO"
    assert line["message"].startswith(f"GET {ME} 200 ")


@pytest.mark.django_db
def test_the_access_line_of_an_anonymous_refused_and_public_request(tenant_a, json_logs):
    APIClient(HTTP_HOST="alpha.localhost").get(ME)
    Client(HTTP_HOST="nobody.localhost").get("/api/v1/")
    Client(HTTP_HOST="localhost").get("/healthz")
    anonymous, unknown_host, public = json_logs.records("atrium.access")
    assert (anonymous["tenant"], anonymous["status"], anonymous["user_id"]) == ("alpha", 401, None)
    assert (unknown_host["tenant"], unknown_host["status"]) == (None, 404)
    assert unknown_host["route"] == "<unrouted>"
    assert (public["tenant"], public["status"], public["route"]) == ("public", 200, "healthz")


@pytest.mark.django_db
def test_djangos_own_line_about_a_request_carries_its_context(tenant_a, json_logs):
    """django.request writes its warning after the middleware has returned; the request it
    passes along gives the line its context all the same."""
    APIClient(HTTP_HOST="alpha.localhost").get(ME, HTTP_X_REQUEST_ID="late-1")
    [line] = json_logs.records("django.request")
    assert line["message"] == f"Unauthorized: {ME}"
    assert (line["tenant"], line["request_id"]) == ("alpha", "late-1")


@pytest.mark.django_db
def test_records_written_during_a_request_carry_its_context(tenant_a, json_logs):
    """A line logged anywhere inside a request's context (here, an eager task's run line
    sent from it) names the request's id and tenant without being told."""
    from tests.tasks.worker_tasks import record_context

    logger = logging.getLogger("tests.observability")

    def view_side_effect():
        logger.warning("inside the request")
        record_context.delay("m-logs")

    with bind(LogContext(request_id="outer-1")), tenant_scope(tenant_a):
        view_side_effect()
    inside = json_logs.records("tests.observability")
    assert inside[0]["tenant"] == "alpha" and inside[0]["request_id"] == "outer-1"
    [task_line] = json_logs.records("atrium.tasks")
    assert task_line["request_id"] == "outer-1"  # an eager run keeps its caller's context
    assert task_line["tenant"] == "alpha"
    assert task_line["outcome"] == "success"


def test_outside_any_request_the_context_fields_are_empty_not_missing(json_logs):
    logging.getLogger("tests.observability").warning("at startup")
    [line] = json_logs.records("tests.observability")
    assert line["tenant"] is None and line["request_id"] is None and line["user_id"] is None


# ----------------------------------------------------------------------------- formats


def test_development_logs_are_one_readable_line(tenant_a):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(TextFormatter())
    logger = logging.getLogger("tests.observability.text")
    logger.addHandler(handler)
    try:
        with bind(LogContext(request_id="r-1")), tenant_scope(tenant_a):
            logger.warning("hello %s", "there")
        logger.warning("no context")
    finally:
        logger.removeHandler(handler)
    first, second = stream.getvalue().splitlines()
    assert first.endswith("WARNING tests.observability.text [alpha r-1] hello there")
    assert second.endswith("WARNING tests.observability.text [- -] no context")


def test_production_logs_json_and_development_text():
    from config.settings import observability

    assert logging_config("json")["handlers"]["console"]["formatter"] == "json"
    assert logging_config("text")["handlers"]["console"]["formatter"] == "text"
    assert logging_config("json")["handlers"]["console"]["filters"] == ["context"]
    assert observability.LOG_FORMAT == "text"  # tests and development read text
    with pytest.raises(ValueError, match="json or text"):
        logging_config("xml")


def test_production_settings_write_json_lines():
    """The production settings, started for real: a record comes out as one JSON object."""
    import json
    import subprocess
    import sys

    from tests.fixtures import REPO_ROOT, cli_env

    env = cli_env()
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.prod",
        SECRET_KEY="x" * 64,
        DEBUG="0",
    )
    env.pop("LOG_FORMAT", None)
    code = "import django, logging; django.setup(); logging.getLogger('atrium.x').warning('hi')"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    [line] = [json.loads(line) for line in result.stderr.splitlines() if "atrium.x" in line]
    assert line["message"] == "hi" and line["level"] == "WARNING" and line["logger"] == "atrium.x"
    assert {"tenant", "request_id", "user_id", "time"} <= set(line)
