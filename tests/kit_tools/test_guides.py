"""The citizen guide (Dutch and English) and the gateway install guide are true to the code.

- both languages have the same sections, tables and commands, so they stay in sync;
- every ``lokaalmeten`` command line in them exists with the options it uses;
- every relative link points at a file (and a wiring anchor that exists);
- the API addresses of "find your data" answer 200 from a real server over a real store.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from functools import cache
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lokaalmeten.gateway.directory import Directory, Edit
from lokaalmeten.readings import Reading
from lokaalmeten.server.app import create_app
from lokaalmeten.settings import ServerSettings
from lokaalmeten.store import open_store
from tests.helpers import REPO

DOCS = REPO / "docs"
GUIDES = [DOCS / "citizen-guide.en.md", DOCS / "citizen-guide.nl.md"]
ALL = [*GUIDES, DOCS / "gateway-install.md"]


def headings(text: str) -> list[str]:
    """'## 3.' style headings: level and number (titles are translated)."""
    return [
        f"{m.group(1)} {m.group(2)}"
        for m in re.finditer(r"^(#+) (\d+\.)?", text, re.M)
        if m.group(2) or len(m.group(1)) == 1
    ]


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```\w*\n(.*?)^```", text, re.M | re.S)


def table_shapes(text: str) -> list[int]:
    """The number of rows of each table, in order."""
    shapes: list[int] = []
    rows = 0
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            rows += 1
        elif rows:
            shapes.append(rows)
            rows = 0
    return shapes


def test_both_languages_have_the_same_structure() -> None:
    en, nl = (path.read_text() for path in GUIDES)
    assert headings(en) == headings(nl)
    assert len(headings(en)) == 10  # title and sections 1-9
    assert code_blocks(en) == code_blocks(nl)
    assert table_shapes(en) == table_shapes(nl)
    addresses = re.compile(r"`(SERVER/[^`]*)`")
    assert addresses.findall(en) == addresses.findall(nl)


def test_the_guides_say_where_to_place_a_kit() -> None:
    en, nl = (path.read_text() for path in GUIDES)
    for needed in ("1.5 m and 4 m", "kitchen vent", "chimney", "free air flow", "rain"):
        assert needed in en, needed
    for needed in ("1,5 m en 4 m", "keukenafzuiging", "schoorsteen", "vrije luchtstroming"):
        assert needed in nl, needed


def commands(text: str) -> list[list[str]]:
    found = []
    for block in code_blocks(text):
        for line in block.splitlines():
            words = shlex.split(line)
            for i, word in enumerate(words):
                if word.endswith("bin/lokaalmeten"):
                    found.append(words[i + 1 :])
    return found


@cache
def help_text(command: tuple[str, ...]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "lokaalmeten", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, (command, done.stderr)
    return done.stdout


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_command_in_the_guides_exists_with_its_options(path: Path) -> None:
    lines = commands(path.read_text())
    assert lines
    for words in lines:
        name = tuple(w for w in words[:2] if not w.startswith("-") and w.islower()
                     and w in ("flash", "deploy", "gateway", "install", "nodes", "add",
                               "places", "set"))  # fmt: skip
        assert name, words
        text = help_text(name)
        for word in words:
            if word.startswith("--"):
                assert word in text, f"{' '.join(name)} has no option {word}"


@pytest.mark.parametrize("path", [*ALL, REPO / "hardware" / "bom.md"], ids=lambda p: p.name)
def test_links_point_at_files_and_anchors(path: Path) -> None:
    for target in re.findall(r"\]\(([^)#:]+)(?:#([\w-]+))?\)", path.read_text()):
        file, _ = target
        assert (path.parent / file).exists(), f"{path.name}: {file}"
    for file, anchor in re.findall(r"\]\(([^)#:]+)#([\w-]+)\)", path.read_text()):
        assert f'id="{anchor}"' in (path.parent / file).read_text(), f"{file}#{anchor}"


def test_find_your_data_addresses_answer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lm.db'}"
    now = int(time.time()) // 60 * 60
    store = open_store(url)
    store.write(
        [Reading("esp32-0a1b2c", "pm25", now - 600 + 60 * i, 7.0 + i, "SDS011") for i in range(5)]
    )
    store.close()
    registry = tmp_path / "registry.db"
    directory = Directory(registry)
    directory.edit("esp32-0a1b2c", Edit(name="Dorpsstraat", location=(52.0907, 5.1214)))
    directory.close()
    settings = ServerSettings(store=url, registry=str(registry), rate_limit=0, max_range_days=31)
    addresses = sorted(set(re.findall(r"`SERVER(/v1/[^`]*)`", GUIDES[0].read_text())))
    assert len(addresses) == 7  # the table of addresses, Excel and hourly-means CSV included
    with TestClient(create_app(settings)) as client:
        for address in addresses:
            # The weekly example names a fixed day; ask for the week before now instead.
            address = re.sub(
                r"from=[0-9-]+",
                f"from={time.strftime('%Y-%m-%d', time.gmtime(now - 6 * 86400))}",
                address,
            )
            response = client.get(address)
            assert response.status_code == 200, (address, response.text)
            assert "esp32-0a1b2c" in response.text, address
