"""Mail: rendered in the sender's tenant, sent after commit by a Celery task to a real SMTP
server (aiosmtpd), retried while the server is away, never failing the sender's work."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time

import pytest
from django.db import transaction

from atrium.platform.mail import mail_send_on_commit, tenant_link
from atrium.tenants.context import public_scope, tenant_scope
from config.settings.mail import mailer_from_url
from scripts.mail_sink import MailSink
from tests import driver
from tests.fixtures import REPO_ROOT, cli_env

# Committed writes (the worker must see them), without a flush that would drop the tenants.
pytestmark = pytest.mark.usefixtures("live_db")


def _send(to: str, token: str = "tok-123") -> None:
    mail_send_on_commit(
        to=to,
        template="tests/hello",
        context={"name": "Ada", "link": tenant_link("welcome", token), "token": token},
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends


def test_a_tenant_mail_carries_the_tenant_and_both_bodies(tenant_a, smtp_sink):
    with tenant_scope(tenant_a):
        _send("ada@example.test")
    message = smtp_sink.wait_for(to="ada@example.test")
    assert message["From"].addresses[0].display_name == "Alpha Ltd"
    assert "Alpha Ltd" in message["Subject"] and "Hello Ada" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    # The link points at the tenant's primary domain and carries the token in its query.
    assert "http://alpha.localhost:8000/welcome?token=tok-123" in text
    assert 'href="http://alpha.localhost:8000/welcome?token=tok-123"' in html
    assert "paste this code: tok-123" in text


def test_nothing_is_sent_before_the_commit_or_after_a_rollback(tenant_a, smtp_sink):
    with tenant_scope(tenant_a):
        with transaction.atomic():
            _send("late@example.test")
            time.sleep(0.3)
            assert smtp_sink.messages == []
        smtp_sink.wait_for(to="late@example.test")
        with pytest.raises(RuntimeError), transaction.atomic():
            _send("never@example.test")
            raise RuntimeError("the write fails")
    time.sleep(0.3)
    assert [m["To"] for m in smtp_sink.messages] == ["late@example.test"]


def test_platform_mail_is_signed_by_the_platform(smtp_sink):
    with public_scope():
        mail_send_on_commit(
            to="founder@example.test",
            template="tests/hello",
            context={"name": "Founder", "link": "x", "token": "t"},
        )
    message = smtp_sink.wait_for(to="founder@example.test")
    assert message["From"].addresses[0].display_name == "Atrium"
    assert "Atrium" in message["Subject"]


def test_an_unknown_template_fails_the_caller_at_once(tenant_a):
    from django.template import TemplateDoesNotExist

    with tenant_scope(tenant_a), pytest.raises(TemplateDoesNotExist):
        mail_send_on_commit(to="a@example.test", template="tests/nope", context={})


def test_an_smtp_outage_never_fails_the_committed_write(tenant_a, settings, caplog):
    """Eager mode (the suite's default): every retry fails at once; the commit stands and
    the loss is logged, not raised into the request."""
    from atrium.platform.accounts.models import User

    settings.MAILERS = {"default": mailer_from_url(f"smtp://127.0.0.1:{_closed_port()}/?timeout=2")}
    with tenant_scope(tenant_a):
        with caplog.at_level(logging.ERROR, logger="atrium.platform.mail"), transaction.atomic():
            user = User.objects.create_user("outage@example.test", "x-Secret-123456")
            _send("outage@example.test")
        assert User.objects.filter(pk=user.pk).exists()
        user.delete()
    assert any("could not queue tests/hello" in r.getMessage() for r in caplog.records)


def test_a_real_worker_retries_until_the_smtp_server_comes_back(tenant_a):
    """The SMTP server is down when the mail is sent: the worker retries with backoff and
    delivers it once the server is up, with nothing lost."""
    port = _closed_port()
    env = {"EMAIL_URL": f"smtp://127.0.0.1:{port}/?timeout=2", "ATRIUM_MAIL_MAX_RETRIES": "10"}
    with driver.Worker(env=env, include=()) as worker, worker.sending():
        with tenant_scope(tenant_a):
            _send("patient@example.test", token="later")
        driver.wait_for(
            lambda: "mail.send_tenant" in worker.output_since_start()
            and "Retry in" in worker.output_since_start(),
            "the worker to fail a first try and schedule a retry",
            worker,
            timeout=30,
        )
        sink = MailSink(port=port).start()
        try:
            message = sink.wait_for(to="patient@example.test", timeout=40)
        finally:
            sink.stop()
    assert "later" in message.get_body(("plain",)).get_content()


# ------------------------------------------------------------ SMTP from the environment

# A password as SMTP providers hand them out (AWS SES's are base64: "/" and "+"), with
# every character that means something in a URL; and a username that is an address.
AWKWARD_PASSWORD = "BKz/Ab+cd=#?%40:@x"
_SHOW_MAIL_SETTINGS = (
    "import json; from config.settings import mail; "
    "print(json.dumps({'mailers': mail.MAILERS, 'from': mail.DEFAULT_FROM_EMAIL}))"
)


def _without_mail_variables() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("EMAIL_") and name != "DEFAULT_FROM_EMAIL"
    }


def _mail_settings(**env: str) -> subprocess.CompletedProcess:
    """The mail settings a fresh process builds from the environment ``env`` alone."""
    return subprocess.run(
        [sys.executable, "-c", _SHOW_MAIL_SETTINGS],
        env={**_without_mail_variables(), **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


@pytest.mark.parametrize(
    ("env", "options"),
    [
        (  # nothing set: the local sink of `make run`
            {},
            {"host": "127.0.0.1", "port": 1025, "username": "", "password": ""},
        ),
        (
            {
                "EMAIL_HOST": "email-smtp.eu-west-1.amazonaws.com",
                "EMAIL_PORT": "587",
                "EMAIL_HOST_USER": "ses-user@example.com",
                "EMAIL_HOST_PASSWORD": AWKWARD_PASSWORD,
                "EMAIL_USE_TLS": "1",
            },
            {
                "host": "email-smtp.eu-west-1.amazonaws.com",
                "port": 587,
                "username": "ses-user@example.com",
                "password": AWKWARD_PASSWORD,
                "use_tls": True,
                "use_ssl": False,
            },
        ),
        (
            {"EMAIL_HOST": "smtp.example.com", "EMAIL_PORT": "465", "EMAIL_USE_SSL": "true"},
            {"host": "smtp.example.com", "port": 465, "use_tls": False, "use_ssl": True},
        ),
        (
            {"EMAIL_HOST": "smtp.example.com", "EMAIL_TIMEOUT": "3"},
            {"port": 1025, "use_tls": False, "use_ssl": False, "timeout": 3},
        ),
        (  # EMAIL_URL wins; its user and password are URL-quoted
            {
                "EMAIL_URL": "smtp://u%40example.com:p%2Fq%23r@mail.example.com:2525/?tls=1",
                "EMAIL_HOST": "ignored.example.com",
            },
            {
                "host": "mail.example.com",
                "port": 2525,
                "username": "u@example.com",
                "password": "p/q#r",
                "use_tls": True,
                "use_ssl": False,
                "timeout": 10,
            },
        ),
    ],
)
def test_production_reads_smtp_from_email_url_or_the_email_variables(env, options):
    result = _mail_settings(**env)
    assert result.returncode == 0, result.stderr[-2000:]
    mailer = json.loads(result.stdout.strip().splitlines()[-1])["mailers"]["default"]
    assert mailer["BACKEND"] == SMTP_BACKEND
    assert {name: mailer["OPTIONS"].get(name) for name in options} == options


def test_tls_and_ssl_at_once_are_refused_at_start():
    result = _mail_settings(EMAIL_HOST="smtp.example.com", EMAIL_USE_TLS="1", EMAIL_USE_SSL="1")
    assert result.returncode != 0
    assert "EMAIL_USE_TLS" in result.stderr and "EMAIL_USE_SSL" in result.stderr


def test_a_process_configured_by_the_email_variables_sends_to_that_server(smtp_sink):
    """No EMAIL_URL: EMAIL_HOST and EMAIL_PORT alone take the mail to the SMTP server."""
    env = {
        **{k: v for k, v in cli_env().items() if not k.startswith("EMAIL_")},
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_sink.port),
        "DEFAULT_FROM_EMAIL": "robot@example.test",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "sendtestemail", "--skip-checks", "ops@example.test"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    message = smtp_sink.wait_for(to="ops@example.test", timeout=10)
    assert message["From"] == "robot@example.test"
