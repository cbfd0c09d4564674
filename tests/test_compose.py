"""docker-compose.yml and the Dockerfile point at things that exist in this repository.

Docker is not available in CI, so this is the check that the compose stack would at
least find its files, modules and executables: every service has an image or a build
context with its Dockerfile, every command of our own image names a script or module
that exists and an executable that the locked requirements (or the base image) provide,
and every dependency names a defined service.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
BASE_LOCK = ROOT / "requirements" / "base.txt"

# Executables that our image gets from pip, by the distribution that installs them.
PIP_EXECUTABLES = {"uvicorn": "uvicorn", "celery": "celery", "gunicorn": "gunicorn"}
# Executables that the python:3.12 base image provides.
BASE_IMAGE_EXECUTABLES = {"python", "python3"}
SHELLS = {"sh", "bash"}


def load_compose() -> dict:
    with COMPOSE_FILE.open() as fh:
        return yaml.safe_load(fh)


COMPOSE = load_compose()
SERVICES: dict[str, dict] = COMPOSE.get("services") or {}


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
        # `exec` replaces the shell: the command is what follows it.
        return [_unexec(shlex.split(part)) for part in parts if part.strip()]
    return [argv]


def _unexec(argv: list[str]) -> list[str]:
    return argv[1:] if argv[:1] == ["exec"] else argv


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
    elif exe in PIP_EXECUTABLES:
        if PIP_EXECUTABLES[exe] not in locked:
            found.append(f"{exe} is not in {BASE_LOCK.relative_to(ROOT)}")
        if exe == "uvicorn":
            targets = [a for a in args if not a.startswith("-") and ":" in a]
            if not targets:
                found.append("uvicorn command names no module:attribute")
            found += [f"uvicorn app not found: {t}" for t in targets if not resolve_module(t)]
        if exe == "gunicorn":
            config = option_value(argv, "-c", "--config")
            if config is None or not (ROOT / config).is_file():
                found.append(f"gunicorn config file not found: {config}")
        if exe == "celery":
            app = option_value(argv, "-A", "--app")
            if app is None:
                found.append("celery command has no -A/--app")
            elif resolve_module(app) is None:
                found.append(f"celery app not found: {app}")
    else:
        found.append(f"executable {exe!r} is provided neither by the image nor by the lock")
    return found


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


def test_stack_runs_migrations_gunicorn_uvicorn_worker_and_beat():
    commands = [
        argv for name in OWN_SERVICES for argv in simple_commands(SERVICES[name]["command"])
    ]
    assert ["python", "manage.py", "tenants", "migrate"] in [a[:4] for a in commands]
    assert any(a[:1] == ["uvicorn"] for a in commands)
    assert any(a[:1] == ["gunicorn"] for a in commands)
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
    assert simple_commands("sh -c 'a && exec b c'") == [["a"], ["b", "c"]]
    assert problems_in(["gunicorn", "-c", "config/nope.conf.py"], locked)
    assert not problems_in(["gunicorn", "-c", "config/gunicorn.conf.py"], locked)


def test_one_origin_http_to_gunicorn_and_websockets_to_uvicorn():
    entry = SERVICES["entry"]
    assert entry["ports"] == ["8000:8000"] and "ports" not in SERVICES["web"]
    source, target, *_ = entry["volumes"][0].split(":")
    assert target == "/usr/local/etc/haproxy/haproxy.cfg"
    config = (COMPOSE_FILE.parent / source).read_text()
    assert "use_backend ws if { path_beg /ws/ }" in config
    for variable in ("ATRIUM_PROXY_BIND", "ATRIUM_HTTP_ADDR", "ATRIUM_WS_ADDR"):
        assert f"${{{variable}}}" in config and variable in entry["environment"]
    servers = {
        "gunicorn": entry["environment"]["ATRIUM_HTTP_ADDR"],
        "uvicorn": entry["environment"]["ATRIUM_WS_ADDR"],
    }
    for exe, address in servers.items():
        service = SERVICES[address.split(":")[0]]
        assert any(a[:1] == [exe] for a in simple_commands(service["command"])), address
