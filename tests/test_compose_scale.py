"""docker-compose.scale.yml (the override past one machine) points at things that exist.

Docker is not available in CI (nor was it where the benchmarks ran), so as for
docker-compose.yml this checks what can be checked without it: the merged stack's
dependencies, the commands of our image, the mounted config files, and the settings that
make the stack safe: PgBouncer in session mode, one beat, migrations before the replicas.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from .test_compose import (  # ComposeLoader: also read by tests/api/test_client_address.py
    ROOT,
    SCALE,
    SCALE_FILE,
    STACKS,
    ComposeLoader,
    locked_distributions,
    problems_in,
    simple_commands,
)

# The stack as Compose merges the override over docker-compose.yml (test_compose.merge);
# the checks of every stack (variables, volumes, conditions, restarts) are in test_compose.
MERGED: dict[str, dict] = STACKS["docker-compose.yml+scale"]["services"]
__all__ = ["MERGED", "ComposeLoader"]


def mounted_file(service: str, target: str) -> Path:
    for volume in SCALE["services"][service].get("volumes", []):
        source, mount, *_ = volume.split(":")
        if mount == target:
            return (SCALE_FILE.parent / source).resolve()
    raise AssertionError(f"{service} mounts nothing at {target}")


def test_dependencies_name_services_of_the_merged_stack():
    for name, service in MERGED.items():
        for target in service.get("depends_on") or {}:
            assert target in MERGED, f"{name} depends on undefined service {target!r}"


def test_commands_of_our_image_refer_to_existing_things():
    locked = locked_distributions()
    for name, service in SCALE["services"].items():
        if "command" in service and MERGED[name].get("build"):
            for argv in simple_commands(service["command"]):
                assert not problems_in(argv, locked), f"{name}: {argv}"


def test_app_goes_through_pgbouncer_in_session_mode():
    ini = configparser.ConfigParser(inline_comment_prefixes=(";",))
    ini.read(mounted_file("pgbouncer", "/etc/pgbouncer/pgbouncer.ini"))
    assert ini["pgbouncer"]["pool_mode"] == "session"
    env = SCALE["x-app-env"]
    assert "@pgbouncer:6432/" in env["DATABASE_URL"]
    clients = 3 * int(env["DB_POOL_MAX_SIZE"]) * 2  # web replicas x pool x (web + worker)
    assert clients <= int(ini["pgbouncer"]["max_client_conn"])


def test_replicas_behind_one_entry_point_and_migrations_run_once():
    assert MERGED["web"]["deploy"]["replicas"] > 1
    assert MERGED["worker"]["deploy"]["replicas"] > 1
    assert MERGED["beat"]["deploy"]["replicas"] == 1  # two beats send every task twice
    # Only the entry point publishes: web (gunicorn) and ws (uvicorn) sit behind it.
    assert "ports" not in MERGED["web"] and "ports" not in MERGED["ws"]
    assert MERGED["entry"]["ports"] == ["8000:8000"]
    haproxy = mounted_file("entry", "/usr/local/etc/haproxy/haproxy.cfg").read_text()
    assert "web:8000" in haproxy and "/healthz" in haproxy
    assert "ws:8000" in haproxy and "use_backend ws if { path_beg /ws/ }" in haproxy
    assert MERGED["ws"]["deploy"]["replicas"] > 1
    assert all(
        a[:4] != ["python", "manage.py", "tenants", "migrate"]
        for a in simple_commands(MERGED["web"]["command"])
    )
    assert MERGED["migrate"]["command"][:4] == ["python", "manage.py", "tenants", "migrate"]
    assert MERGED["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_redis_has_a_replica_and_citus_is_a_profile():
    assert MERGED["redis-replica"]["command"][1:4] == ["--replicaof", "redis", "6379"]
    citus = [name for name, s in SCALE["services"].items() if "citus" in s.get("profiles", [])]
    assert {"citus-coordinator", "citus-worker-1", "citus-worker-2"} <= set(citus)
    init = (ROOT / "deploy" / "scale" / "citus-init.sql").read_text()
    for name in ("citus-worker-1", "citus-worker-2"):
        assert f"citus_add_node('{name}'" in init
    assert "create_reference_table" in init and "citus_schema_distribute" in init
