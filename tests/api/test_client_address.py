"""The client address that rate limits key on, over a real server started as in production.

uvicorn rewrites the client address from ``X-Forwarded-For`` when it trusts the peer (by
default: loopback), before Django sees it; then ``ATRIUM_TRUSTED_PROXY_COUNT=0`` protects
nothing. Every place that starts uvicorn passes ``--no-proxy-headers`` so that the app's
``client_ip`` is the one place that reads the header, and the tests see what production does.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml
from django.conf import settings
from django.test import override_settings

from atrium.platform.api.throttling import client_ip
from tests import driver
from tests.fixtures import REPO_ROOT
from tests.test_compose import simple_commands
from tests.test_compose_scale import ComposeLoader

LOGIN = "/api/v1/auth/token/"


def per_ip_login_limit() -> int:
    rate = settings.ATRIUM_LOGIN_RATE_LIMITS["per_ip"]
    return int(rate.split("/", 1)[0])


def attempts(server: driver.Server, count: int) -> list[int]:
    """``count`` wrong-password logins, each for another e-mail (the per-e-mail limit never
    binds) and with another forwarded address; their status codes."""
    codes = []
    for n in range(count):
        response = server.post(
            "alpha.localhost",
            LOGIN,
            json={"email": f"nobody{n}@alpha.test", "password": "wrong-password"},
            headers={"X-Forwarded-For": f"203.0.113.{n + 1}"},
        )
        codes.append(response.status_code)
    return codes


def test_forwarded_for_from_loopback_does_not_escape_the_per_ip_login_limit(tenant_a):
    limit = per_ip_login_limit()
    with driver.Server() as server:
        codes = attempts(server, limit + 6)
    assert set(codes[:limit]) == {401}, codes
    # Over the per-IP limit: every address was 127.0.0.1, whatever the header said.
    assert codes[-1] == 429, codes


def test_with_one_trusted_proxy_the_forwarded_address_is_the_client(tenant_a):
    limit = per_ip_login_limit()
    with driver.Server(env={"ATRIUM_TRUSTED_PROXY_COUNT": "1"}) as server:
        codes = attempts(server, limit + 6)
    # One address per attempt, one e-mail per attempt: no limit binds.
    assert set(codes) == {401}, codes


def test_client_ip_reads_the_header_only_for_trusted_proxies(rf):
    request = rf.get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="1.1.1.1, 192.0.2.7")
    assert client_ip(request) == "10.0.0.9"
    with override_settings(ATRIUM_TRUSTED_PROXY_COUNT=1):
        assert client_ip(request) == "192.0.2.7"
    with override_settings(ATRIUM_TRUSTED_PROXY_COUNT=2):
        assert client_ip(request) == "1.1.1.1"


# ------------------------------------------------------------- every uvicorn, the same flags


def uvicorn_argv(argv: list[str]) -> list[str] | None:
    """The uvicorn part of a command line, from the executable on; None if it runs none."""
    for i, arg in enumerate(argv):
        if Path(arg).name == "uvicorn" or argv[i - 1 : i + 1] == ["-m", "uvicorn"]:
            return argv[i:]
    return None


def uvicorn_commands() -> dict[str, list[str]]:
    """Every uvicorn command line of the repository, by where it is written."""
    found: dict[str, list[str]] = {}
    for name in ("scripts/run.sh", "Dockerfile"):
        text = (REPO_ROOT / name).read_text().replace("\\\n", " ")
        for n, line in enumerate(text.splitlines()):
            if line.startswith("#") or "config.asgi" not in line:
                continue
            if line.startswith("CMD "):
                argv = json.loads(line.removeprefix("CMD "))
            else:
                argv = shlex.split(line, comments=True)
            if (command := uvicorn_argv(argv)) is not None:
                found[f"{name}:{n + 1}"] = command
    for compose in sorted(REPO_ROOT.glob("docker-compose*.yml")):
        services = yaml.load(compose.read_text(), Loader=ComposeLoader)["services"]  # safe
        for service, spec in services.items():
            for argv in simple_commands(spec.get("command") or []):
                if (command := uvicorn_argv(argv)) is not None:
                    found[f"{compose.name}:{service}"] = command
    found["tests/driver.py:Server"] = uvicorn_argv(driver.Server().command()) or []
    return found


def test_every_uvicorn_trusts_no_forwarded_header_and_has_no_lifespan():
    commands = uvicorn_commands()
    files = {where.split(":")[0] for where in commands}
    # uvicorn serves /ws/ only (HTTP is gunicorn's, which trusts no forwarded header:
    # forwarded_allow_ips in config/gunicorn.conf.py, tests/test_serving.py).
    assert files == {"scripts/run.sh", "docker-compose.yml", "tests/driver.py"}, commands
    for where, argv in commands.items():
        text = " ".join(argv)
        assert "--no-proxy-headers" in argv, f"{where}: {text}"
        assert "--forwarded-allow-ips" not in text, f"{where}: {text}"
        assert re.search(r"--lifespan[ =]off", text), f"{where}: {text}"


def test_the_scale_stacks_one_trusted_proxy_appends_the_client_address():
    """docker-compose.scale.yml trusts one proxy; HAProxy must then append what it saw,
    or the last X-Forwarded-For entry would be the client's own."""
    scale = yaml.load((REPO_ROOT / "docker-compose.scale.yml").read_text(), Loader=ComposeLoader)
    assert scale["x-app-env"]["ATRIUM_TRUSTED_PROXY_COUNT"] == "1"
    haproxy = (REPO_ROOT / "deploy/scale/haproxy.cfg").read_text()
    assert re.search(r"^\s*option forwardfor\b", haproxy, re.MULTILINE)
