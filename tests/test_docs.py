"""The README and docs/ work for someone who only has this repository."""

from __future__ import annotations

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
