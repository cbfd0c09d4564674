"""The README and docs/ work for someone who only has this repository."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from tests.fixtures import REPO_ROOT

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_no_reference_outside_the_repository(doc: Path):
    text = doc.read_text()
    assert "../shared" not in text
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http:, mailto:
            continue
        resolved = (doc.parent / target).resolve()
        assert resolved.is_relative_to(REPO_ROOT), f"{doc.name} links outside: {target}"
        assert resolved.exists(), f"{doc.name} links to a missing file: {target}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_manage_py_commands_use_the_venv(doc: Path):
    """``python manage.py`` fails outside the venv (No module named 'django')."""
    for number, line in enumerate(doc.read_text().splitlines(), 1):
        if "source .venv/bin/activate" in line:  # after activating, plain python works
            continue
        bare = re.search(r"(?<![\w/.])python3? manage\.py", line)
        assert bare is None, f"{doc.name}:{number}: {line.strip()}"


def test_the_readme_links_the_architecture():
    readme = (REPO_ROOT / "README.md").read_text()
    assert "(docs/architecture.md)" in readme
    assert (REPO_ROOT / "docs/architecture.md").is_file()


# A path in backticks under one of these folders is a file or folder of this repository.
TOP_FOLDERS = ("atrium/", "config/", "tests/", "docs/", "scripts/", "benchmarks/", "requirements/")
# Written from inside atrium/ (`platform/redis.py`): the reader cannot tell where it is.
ATRIUM_RELATIVE = ("apps/", "platform/", "tenants/")
CODE = re.compile(r"`([^`\s]+)`")
DOTTED = re.compile(r"^atrium(\.\w+)+$")


def named(doc: Path) -> list[str]:
    """What ``doc`` names in backticks, without trailing punctuation or call parentheses;
    patterns (``<app>``, ``*``, ``{id}``, ``…``) left out."""
    names = (token.rstrip(".,:;").removesuffix("()") for token in CODE.findall(doc.read_text()))
    return [name for name in names if not any(mark in name for mark in "<*{…")]


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_every_path_named_exists_from_the_repository_root(doc: Path):
    paths = [name for name in named(doc) if name.startswith(TOP_FOLDERS + ATRIUM_RELATIVE)]
    assert paths, f"{doc.name} names no path: is the check broken?"
    relative = [path for path in paths if path.startswith(ATRIUM_RELATIVE)]
    assert relative == [], f"{doc.name}: write these from the repository root: {relative}"
    missing = [name for name in paths if not names_something(name)]
    assert missing == [], f"{doc.name} names paths that do not exist: {missing}"


def names_something(name: str) -> bool:
    """``path`` exists; ``path.py:function`` or ``path.py::test`` names one in the file."""
    path, _, inside = name.partition(":")
    target = REPO_ROOT / path
    return target.exists() and (not inside or inside.lstrip(":") in target.read_text())


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_every_dotted_name_imports(doc: Path):
    """``atrium.platform.api.errors.check_registered``: a module, then its attributes."""
    for name in filter(DOTTED.match, named(doc)):
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            try:
                found = importlib.import_module(".".join(parts[:end]))
            except ModuleNotFoundError:
                continue
            break
        for attribute in parts[end:]:
            assert hasattr(found, attribute), f"{doc.name}: {name} does not exist"
            found = getattr(found, attribute)
