"""The README's curl walk-through (sign up → confirm → invite → accept → reset), run as
written by bash and curl against a real server and Celery worker, each token read by its
``mail_token`` from the ``.eml`` files that the SMTP sink of ``make run`` writes. Only the
port differs: the server's instead of HAProxy's 8000."""

from __future__ import annotations

import re
import subprocess

from scripts.mail_sink import MailSink
from tests import driver
from tests.fixtures import REPO_ROOT

SECTION = "### Sign-up, invitations and a password reset, with curl"
SLUG = "initech"


def readme_flow() -> str:
    """The first bash block of the README's curl section."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text[text.index(SECTION) :]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def test_the_readme_curl_flow_works_as_written(live_db, tmp_path):
    live_db.append(SLUG)
    script = readme_flow()
    assert script.count("localhost:8000") >= 3 and "mail_token" in script
    mail_dir = tmp_path / "var" / "mail"
    (tmp_path / ".venv").symlink_to(REPO_ROOT / ".venv")
    sink = MailSink(directory=mail_dir).start()
    port = driver.free_port()
    env = {"EMAIL_URL": f"smtp://127.0.0.1:{sink.port}/?timeout=5", "ATRIUM_SITE_PORT": str(port)}
    try:
        with (
            driver.Worker(env=env, include=()) as worker,
            driver.Server(env={**env, **worker.sender_env()}, port=port) as server,
        ):
            result = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", script.replace(":8000", f":{port}")],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
            # Each step answered as the comments say.
            out = result.stdout
            assert '"slug":"initech"' in out.replace(" ", ""), out
            assert '"status":"pending"' in out.replace(" ", ""), out
            assert "Password changed" in out, out
            # Bill made Peter an admin, and Peter signs in with the password he reset.
            host = f"{SLUG}.localhost"
            access = server.login(host, "peter@initech.test", "Flair-Pieces-37-Min")
            me = server.get(host, "/api/v1/users/me/", token=access).json()
            assert (me["name"], me["role"]) == ("Peter Gibbons", "admin")
            old = {"email": "peter@initech.test", "password": "Jump-to-Conclusions-7"}
            assert server.post(host, "/api/v1/auth/token/", json=old).status_code == 401
        # Every step's mail landed in the sink's directory, where mail_token read it.
        mailed = sorted(path.name for path in mail_dir.glob("*.eml"))
        assert [name.split("-", 1)[1] for name in mailed[:3]] == [
            "bill@initech.test.eml",
            "peter@initech.test.eml",
            "peter@initech.test.eml",
        ], mailed
    finally:
        sink.stop()
