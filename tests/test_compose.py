"""docker-compose.yml, its scale override and the Dockerfile point at things that exist, and
the stack they describe is one an operator can run: it survives restarts.

Docker is not available in CI, so this checks what can be checked without it, on each stack
(docker-compose.yml alone, and with docker-compose.scale.yml laid over it as Compose merges
them): every service has an image or a build context with its Dockerfile; every command of
our own image (healthchecks included) names a script, module, manage.py command (parsed
with its arguments) or executable that exists; every variable passed to our image is one
that the settings read; every named volume is declared and every bind mount exists; every
dependency names a defined service with a condition it can meet. And the operator's
promises: one shared place for files, a durable broker, a one-shot migrate that web, worker
and beat wait for, healthchecks on /readyz, restart policies. The last test runs the
services' own commands (migrate, worker, beat) as real processes on this machine.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
BASE_LOCK = ROOT / "requirements" / "base.txt"

# Executables that our image gets from pip, by the distribution that installs them.
PIP_EXECUTABLES = {"uvicorn": "uvicorn", "celery": "celery"}
# Executables that the python:3.12 base image provides.
BASE_IMAGE_EXECUTABLES = {"python", "python3"}
SHELLS = {"sh", "bash"}


SCALE_FILE = ROOT / "docker-compose.scale.yml"


class ComposeLoader(yaml.SafeLoader):
    """Compose's `!reset` tag: an override drops what the file below it set."""


RESET = {"!reset": True}
ComposeLoader.add_constructor("!reset", lambda loader, node: dict(RESET))


def load_compose(path: Path = COMPOSE_FILE) -> dict:
    with path.open() as fh:
        return yaml.load(fh, Loader=ComposeLoader)  # a SafeLoader


COMPOSE = load_compose()
SERVICES: dict[str, dict] = COMPOSE.get("services") or {}
SCALE = load_compose(SCALE_FILE)


def merge(base, override, key: str = ""):
    """Compose's merge of an override file: mappings merge key by key, `!reset` empties,
    commands are replaced, volumes merge by their mount point, other sequences append."""
    if override == RESET:
        return [] if isinstance(base, list) else {}
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for name, value in override.items():
            merged[name] = merge(base[name], value, name) if name in base else value
        return merged
    if isinstance(base, list) and isinstance(override, list):
        if key in {"command", "entrypoint", "test"}:
            return override
        if key == "volumes":
            by_target = {str(v).split(":")[1] if ":" in str(v) else v: v for v in base}
            by_target.update({str(v).split(":")[1] if ":" in str(v) else v: v for v in override})
            return list(by_target.values())
        return base + [item for item in override if item not in base]
    return override


STACKS = {"docker-compose.yml": COMPOSE, "docker-compose.yml+scale": merge(COMPOSE, SCALE)}


# --------------------------------------------------------------------------- helpers


def build_of(service: dict) -> tuple[Path, Path] | None:
    """(context dir, Dockerfile) of a service that is built here, else None."""
    build = service.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        context, dockerfile = build, "Dockerfile"
    else:
        context, dockerfile = build.get("context", "."), build.get("dockerfile", "Dockerfile")
    context_dir = (COMPOSE_FILE.parent / context).resolve()
    return context_dir, context_dir / dockerfile


def resolve_module(dotted: str, root: Path = ROOT) -> Path | None:
    """File of `pkg.mod` or `pkg.mod:attr` inside the repo, or None."""
    module = dotted.split(":", 1)[0]
    if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", module):
        return None
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def simple_commands(command: str | list[str]) -> list[list[str]]:
    """Split a compose `command` into argv lists, unwrapping `sh -c "a && b; c"`."""
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if len(argv) >= 3 and Path(argv[0]).name in SHELLS and argv[1] == "-c":
        script = argv[2]
        parts = re.split(r"&&|\|\||;|\n", script)
        return [shlex.split(part) for part in parts if part.strip()]
    return [argv]


def locked_distributions(lock: Path = BASE_LOCK) -> set[str]:
    names = set()
    for line in lock.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==\S+", line)
        if match:
            names.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return names


def option_value(argv: list[str], *names: str) -> str | None:
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def problems_in(argv: list[str], locked: set[str]) -> list[str]:
    """What is wrong with one simple command of our own image (empty list: nothing)."""
    if not argv:
        return ["empty command"]
    exe, args = Path(argv[0]).name, argv[1:]
    found: list[str] = []
    if exe in BASE_IMAGE_EXECUTABLES:
        if args and args[0] == "-m":
            if len(args) < 2 or resolve_module(args[1]) is None:
                found.append(f"python -m target not found: {args[1:2]}")
        elif not args or not (ROOT / args[0]).is_file():
            found.append(f"python script not found: {args[:1]}")
        elif args[0] == "manage.py":
            found += manage_py_problems(args[1:])
    elif exe in PIP_EXECUTABLES:
        if PIP_EXECUTABLES[exe] not in locked:
            found.append(f"{exe} is not in {BASE_LOCK.relative_to(ROOT)}")
        if exe == "uvicorn":
            targets = [a for a in args if not a.startswith("-") and ":" in a]
            if not targets:
                found.append("uvicorn command names no module:attribute")
            found += [f"uvicorn app not found: {t}" for t in targets if not resolve_module(t)]
        if exe == "celery":
            app = option_value(argv, "-A", "--app")
            if app is None:
                found.append("celery command has no -A/--app")
            elif resolve_module(app) is None:
                found.append(f"celery app not found: {app}")
    else:
        found.append(f"executable {exe!r} is provided neither by the image nor by the lock")
    return found


def manage_py_problems(args: list[str]) -> list[str]:
    """``manage.py <command> <args>``: the command exists and its arguments parse."""
    from django.core.management import CommandError, get_commands, load_command_class

    if not args:
        return ["manage.py without a command"]
    commands = get_commands()
    if args[0] not in commands:
        return [f"manage.py has no command {args[0]!r}"]
    parser = load_command_class(commands[args[0]], args[0]).create_parser("manage.py", args[0])
    try:
        parser.parse_args(args[1:])
    except (CommandError, SystemExit) as error:
        return [f"manage.py {' '.join(args)} does not parse: {error}"]
    return []


def dockerfile_instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            result.append((instruction.upper(), rest.strip()))
    return result


OWN_SERVICES = [name for name, svc in SERVICES.items() if build_of(svc) is not None]


# --------------------------------------------------------------------------- the checks


def test_compose_defines_the_stack():
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(SERVICES)
    assert OWN_SERVICES, "no service is built from this repository"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_has_an_image_or_an_existing_build(name):
    service = SERVICES[name]
    build = build_of(service)
    if build is None:
        image = service.get("image")
        assert isinstance(image, str) and image.strip(), f"{name}: neither image nor build"
        return
    context_dir, dockerfile = build
    assert context_dir.is_dir(), f"{name}: build context {context_dir} does not exist"
    assert dockerfile.is_file(), f"{name}: Dockerfile {dockerfile} does not exist"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_depends_on_names_defined_services(name):
    depends = SERVICES[name].get("depends_on") or {}
    targets = list(depends) if isinstance(depends, dict | list) else [depends]
    for target in targets:
        assert target in SERVICES, f"{name} depends on undefined service {target!r}"
        assert target != name, f"{name} depends on itself"
        if isinstance(depends, dict):
            condition = (depends[target] or {}).get("condition", "service_started")
            if condition == "service_healthy":
                assert (
                    "healthcheck" in SERVICES[target]
                ), f"{name} waits for {target} to be healthy, but {target} has no healthcheck"


@pytest.mark.parametrize("name", OWN_SERVICES)
def test_commands_of_our_image_refer_to_existing_things(name):
    command = SERVICES[name].get("command")
    assert command, f"{name}: no command"
    locked = locked_distributions()
    commands = simple_commands(command)
    assert commands, f"{name}: command parses to nothing: {command!r}"
    found = [f"{' '.join(argv)}: {p}" for argv in commands for p in problems_in(argv, locked)]
    assert not found, f"{name}: " + "; ".join(found)


def test_stack_runs_migrations_uvicorn_worker_and_beat():
    commands = [
        argv for name in OWN_SERVICES for argv in simple_commands(SERVICES[name]["command"])
    ]
    assert ["python", "manage.py", "tenants", "migrate"] in [a[:4] for a in commands]
    assert any(a[:1] == ["uvicorn"] for a in commands)
    assert any(a[:1] == ["celery"] and "worker" in a for a in commands)
    assert any(a[:1] == ["celery"] and "beat" in a for a in commands)


@pytest.mark.parametrize("name", OWN_SERVICES)
def test_settings_module_of_our_image_exists(name):
    env = SERVICES[name].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    settings = env.get("DJANGO_SETTINGS_MODULE")
    assert settings, f"{name}: DJANGO_SETTINGS_MODULE is not set"
    assert resolve_module(settings), f"{name}: settings module {settings} not found"
    assert "SECRET_KEY" in env, f"{name}: SECRET_KEY is not passed in"


DOCKERFILES = sorted({build_of(SERVICES[name]) for name in OWN_SERVICES})


@pytest.mark.parametrize(
    ("context_dir", "dockerfile"),
    DOCKERFILES,
    ids=[str(d.relative_to(ROOT)) if d.is_relative_to(ROOT) else str(d) for _, d in DOCKERFILES],
)
def test_dockerfile_copies_existing_files_and_installs_the_lock(context_dir, dockerfile):
    assert dockerfile.is_file(), f"{dockerfile} does not exist"
    instructions = dockerfile_instructions(dockerfile)
    base = next(args for instr, args in instructions if instr == "FROM")
    assert base.startswith("python:3.12"), f"base image {base} is not Python 3.12"

    copies = [shlex.split(args) for instr, args in instructions if instr in {"COPY", "ADD"}]
    assert copies, "the Dockerfile copies nothing"
    for argv in copies:
        sources = [a for a in argv if not a.startswith("--")][:-1]
        assert sources, f"COPY without a source: {argv}"
        for source in sources:
            assert (context_dir / source).exists(), f"COPY source {source} does not exist"
    copied = {s for argv in copies for s in argv[:-1]}
    assert "requirements/base.txt" in copied, "the Dockerfile does not copy requirements/base.txt"

    runs = " ".join(args for instr, args in instructions if instr == "RUN")
    assert re.search(
        r"pip install [^&;]*--require-hashes[^&;]*requirements/base\.txt", runs
    ), "the Dockerfile does not install requirements/base.txt with --require-hashes"
    assert any(
        instr == "USER" and args not in {"root", "0"} for instr, args in instructions
    ), "the image runs as root"

    cmd = next((args for instr, args in reversed(instructions) if instr == "CMD"), None)
    if cmd is not None:
        argv = yaml.safe_load(cmd) if cmd.startswith("[") else shlex.split(cmd)
        assert not problems_in(argv, locked_distributions()), f"CMD {cmd}"


# --------------------------------------------------------------------------- the checker


def test_checker_reports_what_is_missing():
    """The helpers above can fail: a check that cannot fail proves nothing."""
    locked = locked_distributions()
    assert {"uvicorn", "celery", "django"} <= locked
    assert resolve_module("config.does_not_exist") is None
    assert resolve_module("not a module") is None
    assert problems_in(["uvicorn", "config.nope:application"], locked)
    assert problems_in(["uvicorn", "--port", "8000"], locked)
    assert problems_in(["celery", "-A", "config.nope", "worker"], locked)
    assert problems_in(["celery", "worker"], locked)
    assert problems_in(["python", "nope.py"], locked)
    assert problems_in(["gunicorn", "config.wsgi"], locked)
    assert problems_in(["celery", "--app=config.nope", "beat"], set())
    assert simple_commands("sh -c 'a b && c; d'") == [["a", "b"], ["c"], ["d"]]
    assert problems_in(["python", "manage.py", "nope"], locked)
    assert problems_in(["python", "manage.py", "tenants", "migrate", "--parallel"], locked)
    assert problems_in(["python", "manage.py", "tenants", "migrat"], locked)
    assert not problems_in(["python", "manage.py", "tenants", "migrate", "--parallel", "4"], locked)


# --------------------------------------------------------------------------- each stack
# docker-compose.yml alone and with the scale override, as Compose merges them.

# Variables that a tool reads itself, not the settings: Django, gunicorn, OpenTelemetry's SDK.
TOOL_VARIABLES = {"DJANGO_SETTINGS_MODULE", "WEB_CONCURRENCY", "GUNICORN_CMD_ARGS"}
TOOL_PREFIXES = ("OTEL_",)
# Where the settings and our entry points read the environment.
READERS = [
    *sorted((ROOT / "config").rglob("*.py")),
    *sorted((ROOT / "atrium").rglob("conf.py")),
    ROOT / "manage.py",
    *sorted(p for p in (ROOT / "scripts").iterdir() if p.is_file()),
]
READ = re.compile(
    r"""(?:\benv|\benv_bool|\benv_int|\benv_float|getenv|environ\.get|environ\.setdefault"""
    r"""|\benv\.get)\(\s*["']([A-Z][A-Z0-9_]+)["']|environ\[\s*["']([A-Z][A-Z0-9_]+)["']\s*\]"""
    r"""|\$\{?([A-Z][A-Z0-9_]+)"""
)
VALID_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
LONG_RUNNING_RESTART = {"always", "unless-stopped", "on-failure"}
# What `${VAR:?message}` needs from the operator's shell; stands in for it here.
REQUIRED_FROM_SHELL = {
    "SECRET_KEY": "s" * 64,
    "MINIO_ROOT_PASSWORD": "minio-password-for-the-check",
}
INTERPOLATION = re.compile(r"\$\$|\$\{([A-Z_][A-Z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def variables_read() -> set[str]:
    found = set()
    for path in READERS:
        for match in READ.finditer(path.read_text()):
            found.update(name for name in match.groups() if name)
    return found


def interpolate(value, shell: dict[str, str]):
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR:?error}` and `$$`, as `up` resolves
    them from ``shell``; a missing required variable fails with Compose's message."""
    if isinstance(value, dict):
        return {k: interpolate(v, shell) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, shell) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, kind, rest = match.groups()
        if shell.get(name):
            return shell[name]
        if kind and kind.endswith("?"):
            raise AssertionError(f"${{{name}}} is required: {rest}")
        return rest if kind else ""

    return INTERPOLATION.sub(one, value)


def environment_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


def own_services(services: dict[str, dict]) -> list[str]:
    """Services that run our image: built here, or the image that a built service tags."""
    built_images = {s.get("image") for s in services.values() if s.get("build")}
    return sorted(
        name
        for name, service in services.items()
        if service.get("build") or (service.get("image") in built_images - {None})
    )


def is_one_shot(service: dict) -> bool:
    return str(service.get("restart", "no")) == "no"


def active(stack: dict) -> dict[str, dict]:
    """The services that `up` starts (no profile)."""
    return {n: s for n, s in stack["services"].items() if not s.get("profiles")}


def service_of_url(url: str, services: dict[str, dict]) -> str:
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname
    assert host in services, f"{url}: {host} is not a service of the stack"
    return host


@pytest.fixture(params=sorted(STACKS))
def stack(request) -> dict:
    return STACKS[request.param]


def test_every_variable_passed_to_our_image_is_read(stack):
    read = variables_read()
    assert {"DATABASE_URL", "REDIS_URL", "ATRIUM_STORAGE", "ATRIUM_S3_BUCKET"} <= read
    for name in own_services(stack["services"]):
        for variable in environment_of(stack["services"][name]):
            known = variable in read or variable in TOOL_VARIABLES
            assert known or variable.startswith(TOOL_PREFIXES), (
                f"{name}: {variable} is set, but neither the settings (config/settings, "
                "atrium/**/conf.py) nor a script nor a tool of the image reads it"
            )


def test_the_settings_load_and_every_address_is_a_service_of_the_stack(stack):
    from config.settings.storage import default_storage_from

    services = stack["services"]
    for name in own_services(services):
        env = interpolate(environment_of(services[name]), REQUIRED_FROM_SHELL)
        assert resolve_module(env["DJANGO_SETTINGS_MODULE"]), name
        for variable in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
            service_of_url(env[variable], services)
        storage = default_storage_from(env)  # raises on an incomplete S3 configuration
        if storage["BACKEND"].endswith("S3Storage"):
            endpoint = storage["OPTIONS"]["endpoint_url"]
            assert service_of_url(endpoint, services) == "minio"
            minio = interpolate(environment_of(services["minio"]), REQUIRED_FROM_SHELL)
            assert storage["OPTIONS"]["access_key"] == minio["MINIO_ROOT_USER"]
            assert storage["OPTIONS"]["secret_key"] == minio["MINIO_ROOT_PASSWORD"]


def test_only_the_operators_secrets_are_required_from_the_shell():
    required = {
        name
        for path in (COMPOSE_FILE, SCALE_FILE)
        for name in re.findall(r"\$\{([A-Z_][A-Z0-9_]*):?\?", path.read_text())
    }
    assert required == set(REQUIRED_FROM_SHELL)
    with pytest.raises(AssertionError, match="SECRET_KEY"):
        interpolate(environment_of(SERVICES["web"]), {})


def test_volumes_are_declared_and_bind_mounts_exist(stack):
    declared = set(stack.get("volumes") or {})
    used = set()
    for name, service in active(stack).items():
        for volume in service.get("volumes") or []:
            source = str(volume).split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: bind mount {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
    assert declared <= used, f"declared but unused: {declared - used}"


def test_dependencies_exist_with_conditions_they_can_meet(stack):
    services = stack["services"]
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for target, spec in depends.items():
            assert target in services, f"{name} depends on undefined service {target!r}"
            condition = (spec or {}).get("condition", "service_started")
            assert condition in VALID_CONDITIONS, f"{name} -> {target}: {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"
            if condition == "service_completed_successfully":
                assert is_one_shot(services[target]), f"{target} is not a one-shot"


def test_web_worker_and_beat_wait_for_the_one_shot_migrate(stack):
    services = stack["services"]
    migrate = services["migrate"]
    assert simple_commands(migrate["command"])[0][:4] == [
        "python",
        "manage.py",
        "tenants",
        "migrate",
    ]
    assert is_one_shot(migrate) and "migrate" in own_services(services)
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
    for name in ("worker", "beat"):  # they never migrate themselves (web: see the serving work)
        assert all(
            a[2:4] != ["tenants", "migrate"] for a in simple_commands(services[name]["command"])
        )


def test_long_running_services_restart_and_one_shots_do_not(stack):
    for name, service in active(stack).items():
        if name in {"migrate", "minio-init"}:
            assert str(service.get("restart")) == "no", name
        else:
            assert service.get("restart") in LONG_RUNNING_RESTART, f"{name}: no restart policy"


def test_web_is_healthy_when_ready(stack):
    web = stack["services"]["web"]
    test = web["healthcheck"]["test"]
    assert test[0] == "CMD" and test[-1].endswith("/readyz"), test
    assert not problems_in(test[1:], locked_distributions()), test
    for name in own_services(stack["services"]):
        check = stack["services"][name].get("healthcheck")
        if check and check["test"][0] == "CMD":
            assert not problems_in(check["test"][1:], locked_distributions()), name


def test_web_and_worker_share_their_files(stack):
    """Each container has a disk of its own: files go to MinIO (S3), or to one volume that
    every service of our image mounts at MEDIA_ROOT."""
    services = active(stack)
    storages = set()
    for name in own_services(services):
        env = interpolate(environment_of(services[name]), REQUIRED_FROM_SHELL)
        storages.add(env.get("ATRIUM_STORAGE", "filesystem"))
        if env.get("ATRIUM_STORAGE", "filesystem") == "filesystem":
            root = env.get("MEDIA_ROOT", "/app/media")
            mounts = [str(v).split(":") for v in services[name].get("volumes") or []]
            assert any(m[1] == root and not m[0].startswith((".", "/")) for m in mounts), name
    assert len(storages) == 1, f"web, worker and beat store files in different places: {storages}"
    if storages == {"s3"}:
        init = services["minio-init"]
        assert init["depends_on"]["minio"]["condition"] == "service_healthy"
        assert "mc mb --ignore-existing" in " ".join(init["command"])
        assert "ATRIUM_S3_BUCKET" in " ".join(init["command"])
        for name in ("web", "worker", "beat"):
            condition = services[name]["depends_on"]["minio-init"]["condition"]
            assert condition == "service_completed_successfully", name


def test_the_broker_is_durable(stack):
    services = stack["services"]
    env = interpolate(environment_of(services["worker"]), REQUIRED_FROM_SHELL)
    broker = services[service_of_url(env["CELERY_BROKER_URL"], services)]
    command = broker["command"]
    assert command[command.index("--appendonly") + 1] == "yes", command
    assert command[command.index("--appendfsync") + 1] in {"everysec", "always"}, command
    data = [str(v).split(":") for v in broker.get("volumes") or []]
    assert any(target == "/data" for _, target, *_ in data), "the AOF is not on a volume"


def test_stack_helpers_can_fail():
    """The stack checks' helpers see what is wrong: a check that cannot fail proves nothing."""
    read = variables_read()
    assert "ATRIUM_NOT_A_SETTING" not in read and "SECRET_KEY" in read
    assert interpolate("${A:-x}/${B}/$$C/${D:?d}", {"B": "b", "D": "d"}) == "x/b/$C/d"
    with pytest.raises(AssertionError, match="D"):
        interpolate("${D:?set D}", {})
    base = {"a": {"x": 1, "l": [1]}, "volumes": ["v:/data", "w:/w"], "command": ["a"]}
    over = {"a": {"y": 2, "l": [2]}, "volumes": ["u:/data"], "command": ["b"], "ports": RESET}
    assert merge({**base, "ports": ["1:1"]}, over) == {
        "a": {"x": 1, "y": 2, "l": [1, 2]},
        "volumes": ["u:/data", "w:/w"],
        "command": ["b"],
        "ports": [],
    }
    assert own_services({"a": {"build": "."}, "b": {"image": "x"}}) == ["a"]
    assert not is_one_shot({"restart": "unless-stopped"}) and is_one_shot({})


# --------------------------------------------------------------------------- run here
# The services' own commands, as real processes, with the stack's environment pointed at
# this machine: a fresh database, a Redis run with the compose file's flags, an S3 server
# (moto's) in MinIO's place. uvicorn (tests/driver.Server) stands in for web, whose command
# the serving work owns.

LOCAL_PROGRAMS = {
    "python": [sys.executable],
    "celery": [sys.executable, "-m", "celery"],
    "redis-server": [shutil.which("redis-server") or "redis-server"],
}


def local_argv(command) -> list[str]:
    """A service's command with its programs found on this machine."""
    (argv,) = simple_commands(command)
    return [*LOCAL_PROGRAMS[argv[0]], *argv[1:]]


def service_process(name: str, argv: list[str], env: dict[str, str], ready: str):
    from tests import driver

    class ServiceProcess(driver.ManagedProcess):
        def command(self) -> list[str]:
            return argv

        def environment(self) -> dict[str, str]:
            return env

        def wait_ready(self, timeout: float) -> None:
            driver.wait_for(
                lambda: ready in self.output_since_start(),
                f"{name} to log {ready!r}",
                self,
                timeout=timeout,
                interval=0.1,
            )

    ServiceProcess.name = name
    return ServiceProcess()


@pytest.fixture
def fresh_database():
    """An empty database on the test run's PostgreSQL, as the stack's volume starts out."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    name = f"atrium_compose_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = {"host": db["HOST"], "port": db["PORT"], "user": db["USER"], "dbname": "postgres"}
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}"
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def healthcheck(url: str, env: dict[str, str]) -> int:
    """The web service's healthcheck command, against ``url``."""
    argv = [*local_argv(SERVICES["web"]["healthcheck"]["test"][1:-1]), url]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=30).returncode


def test_the_services_commands_run_here_and_share_files_and_queued_work(
    fresh_database, s3_server, tmp_path
):
    """migrate (twice: `up` runs it every time), beat and worker, with their compose
    commands. A web process queues an import while no worker runs; Redis restarts (its
    AOF keeps the queued task); the worker, another process, reads the upload from the
    bucket, and its export is downloaded through web. /readyz drives the healthcheck."""
    from tests import driver

    redis_port = driver.free_port()
    redis = service_process(
        "redis",
        [
            *local_argv(SERVICES["redis"]["command"]),
            *("--port", str(redis_port), "--bind", "127.0.0.1", "--dir", str(tmp_path)),
        ],
        dict(os.environ),
        "Ready to accept connections",
    )
    bucket = s3_server.create_bucket()  # what minio-init does
    here = {
        "DATABASE_URL": fresh_database,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/1",
        "ATRIUM_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "ATRIUM_S3_BUCKET": bucket,
    }
    compose_env = interpolate(environment_of(SERVICES["worker"]), REQUIRED_FROM_SHELL)
    assert set(here) <= set(compose_env), "only the stack's own addresses are replaced"
    assert compose_env["ATRIUM_STORAGE"] == "s3"
    env = {
        **os.environ,
        **compose_env,
        **here,
        "PYTHONPATH": str(ROOT),
        "TMPDIR": str(tmp_path),  # beat's schedule file
    }
    for name in ("web", "migrate", "beat"):
        assert interpolate(environment_of(SERVICES[name]), REQUIRED_FROM_SHELL) == compose_env

    with redis:
        # migrate: a one-shot that exits 0, and again 0 with nothing left to do.
        migrate_argv = local_argv(SERVICES["migrate"]["command"])
        for run in ("first", "again"):
            done = subprocess.run(
                migrate_argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
            )
            assert done.returncode == 0, f"{run}: {done.stdout}\n{done.stderr}"
        assert re.search(r"\b0 migrated, \d+ already up to date, 0 failed", done.stdout)

        created = subprocess.run(
            [
                *local_argv(["python", "manage.py"]),
                *("tenants", "create", "acme", "--name", "Acme"),
                *("--owner-email", "owner@acme.test", "--owner-password-stdin"),
                *("--plan", "enterprise"),  # the polling below stays under its rate limit
            ],
            cwd=ROOT,
            env=env,
            input="Correct-Horse-Battery-42\n",
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert created.returncode == 0, created.stderr
        beat = service_process(
            "beat", local_argv(SERVICES["beat"]["command"]), env, "beat: Starting..."
        )
        web = driver.Server(env=env)
        with beat, web:
            readyz = web.url("localhost", "/readyz").replace("localhost", "127.0.0.1")
            assert healthcheck(readyz, env) == 0
            token = web.login("acme.localhost", "owner@acme.test", "Correct-Horse-Battery-42")
            api = "/api/v1/catalog/"
            category = web.post(
                "acme.localhost", f"{api}categories/", {"name": "Tools"}, token=token
            )
            assert category.status_code == 201, category.text
            csv_text = (
                "sku,name,description,price,stock,status,category,tags\n"
                "CMP-1,Compose Hammer,,9.90,3,active,tools,\n"
            )
            imported = web.request(
                "POST",
                "acme.localhost",
                f"{api}imports/",
                token=token,
                files={"file": ("products.csv", csv_text.encode(), "text/csv")},
            )
            assert imported.status_code == 202, imported.text
            job_url = f"/api/v1/jobs/{imported.json()['id']}/"
            (upload,) = s3_server.keys(bucket)  # web stored it in the bucket
            assert upload.endswith(".csv") and "/imports/" in upload

            # Redis goes down and comes back: not ready meanwhile, and the queued import
            # is still there (AOF), with no worker having seen it.
            redis.stop()
            assert healthcheck(readyz, env) == 1
            redis.start()
            driver.wait_for(lambda: healthcheck(readyz, env) == 0, "/readyz after Redis")

            worker = service_process(
                "worker", local_argv(SERVICES["worker"]["command"]), env, " ready."
            )
            with worker:

                def finished(url: str) -> dict | None:
                    job = web.get("acme.localhost", url, token=token).json()
                    return job if job["status"] in {"succeeded", "failed"} else None

                job = driver.wait_for(lambda: finished(job_url), "the import", worker, interval=0.5)
                assert (job["status"], job["result"]) == (
                    "succeeded",
                    {"created": 1, "updated": 0},
                ), job
                exported = web.post("acme.localhost", f"{api}exports/", token=token)
                assert exported.status_code == 202, exported.text
                job = driver.wait_for(
                    lambda: finished(f"/api/v1/jobs/{exported.json()['id']}/"),
                    "the export",
                    worker,
                    interval=0.5,
                )
                assert job["status"] == "succeeded", job
                download = web.get(
                    "acme.localhost",
                    job["download_url"],
                    headers={"Accept": "text/csv"},
                    token=token,
                )
                assert download.status_code == 200
                assert "CMP-1,Compose Hammer" in download.text
                # Only the export is left: the worker deleted the upload it read.
                schema = upload.split("/")[0]
                assert s3_server.keys(bucket) == [f"{schema}/exports/{job['id']}.csv"]
            assert beat.running(), beat.logs()
        assert healthcheck(readyz, env) == 1  # web stopped
    s3_server.drop_bucket(bucket)
