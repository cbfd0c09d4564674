"""The Makefile picks a Python that Atrium runs on, whatever ``python3`` is."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.fixtures import REPO_ROOT

OLD_PYTHON = """#!/bin/sh
# A Python 3.11: answers the version check with "too old".
exec {real} -c 'import sys; sys.exit(1)'
"""


def chosen_python(path: Path) -> str:
    make = shutil.which("make")
    assert make, "make is needed for this test"
    result = subprocess.run(
        [make, "-p", "-n", "help"],
        cwd=REPO_ROOT,
        env={"PATH": str(path)},  # only the Pythons of the test; make runs /bin/bash
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"^PYTHON :?= (.*)$", result.stdout, re.MULTILINE)
    assert match, result.stdout[-2000:] + result.stderr
    return match.group(1)


def test_python3_12_is_taken_when_python3_is_older(tmp_path):
    old = tmp_path / "python3"
    old.write_text(OLD_PYTHON.format(real=sys.executable))
    old.chmod(0o755)
    (tmp_path / "python3.12").symlink_to(sys.executable)
    assert chosen_python(tmp_path) == "python3.12"


def test_python3_is_taken_when_it_is_new_enough(tmp_path):
    (tmp_path / "python3").symlink_to(sys.executable)
    assert chosen_python(tmp_path) == "python3"


def test_without_a_new_enough_python_the_check_names_python3(tmp_path):
    old = tmp_path / "python3"
    old.write_text(OLD_PYTHON.format(real=sys.executable))
    old.chmod(0o755)
    assert chosen_python(tmp_path) == "python3"  # and check_python explains what is wrong
