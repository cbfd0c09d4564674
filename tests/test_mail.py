"""Mail: rendered in the sender's tenant, sent after commit by a Celery task to a real SMTP
server (aiosmtpd), retried while the server is away, never failing the sender's work."""

from __future__ import annotations

import logging
import socket
import time

import pytest
from django.db import transaction

from atrium.platform.mail import mail_send_on_commit, tenant_link
from atrium.tenants.context import public_scope, tenant_scope
from config.settings.mail import mailer_from_url
from scripts.mail_sink import MailSink
from tests import driver

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
