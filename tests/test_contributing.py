"""CONTRIBUTING.md stays true: every file and folder it names exists, and each of its guides to
adding a part names the registration point that part really has."""

from __future__ import annotations

import re

from tests.helpers import REPO

GUIDE = REPO / "CONTRIBUTING.md"
# A repository path in backticks or a link: a folder or a file with an extension; <name>
# stands for the part being added, so it names the folder the new file goes to.
PATH = re.compile(r"`([a-z_][\w./<>-]*/[\w./<>-]*)`|\]\(([\w./-]+\.\w+)\)")


def named_paths() -> list[str]:
    found = []
    for code, link in PATH.findall(GUIDE.read_text()):
        path = code or link
        if "<" in path:  # the folder the new file goes to
            prefix = path[: path.index("<")]
            path = prefix[: prefix.rfind("/") + 1]
        found.append(path.rstrip("/") or ".")
    return found


def test_every_path_contributing_names_exists() -> None:
    paths = named_paths()
    assert len(paths) > 30  # the guide's lists, not a few stray mentions
    missing = [p for p in paths if not (REPO / p).exists()]
    assert missing == [], f"CONTRIBUTING.md names files that do not exist: {missing}"


def test_each_registration_point_it_names_is_in_its_file() -> None:
    """A guide that says 'one line in X of file F' is only useful while F has X."""
    text = GUIDE.read_text()
    points = re.findall(r"`([\w/.]+\.py)`: one (?:line|entry) in `(\w+)`", text)
    assert len(points) >= 4
    for path, name in points:
        assert re.search(rf"^{name}\b.*=", (REPO / path).read_text(), re.M), (path, name)
