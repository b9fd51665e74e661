"""Comments and docs point only at the project's own files or at public sources: a reader of
the repository cannot open a planning note, an issue number of some tracker or a research
folder that is not in it."""

from __future__ import annotations

import re

from tests.helpers import REPO

FOLDERS = ("lokaalmeten", "gateway", "server", "firmware", "bench", "tools", "tests", "docs")
# What pointed outside the repository once: planning documents and tracker numbers.
OUTSIDE = re.compile(r"design card|GUIDE\.md|research/|\bthe issue\b|\(issue \d+|issue \d+\)")
SUFFIXES = {".py", ".md", ".js", ".html", ".toml"}


def test_no_file_cites_a_document_outside_the_repository() -> None:
    files = [REPO / "README.md", REPO / "CONTRIBUTING.md", REPO / "pyproject.toml"]
    for folder in FOLDERS:
        files += [p for p in (REPO / folder).rglob("*") if p.suffix in SUFFIXES]
    found = [
        f"{path.relative_to(REPO)}:{n}: {line.strip()}"
        for path in files
        if path != REPO / "tests" / "test_references.py"
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert found == [], "\n".join(found)
