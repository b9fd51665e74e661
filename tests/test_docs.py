"""The docs say what the code does: generated parts are current, every part is described."""

from __future__ import annotations

import re
import tomllib

from lokaalmeten.settings import render_configuration_doc
from tests.helpers import REPO


def test_configuration_doc_tables_are_current() -> None:
    doc = (REPO / "docs" / "configuration.md").read_text()
    assert doc == render_configuration_doc(doc), (
        "docs/configuration.md is stale: run python -m lokaalmeten.settings"
    )


def test_readme_starts_with_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text()
    first_block = readme[readme.index("```") : readme.index("```", readme.index("```") + 3)]
    assert "make run" in first_block and "make test" in first_block


def test_readme_justifies_every_dependency() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Dependencies") :]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements.extend(extra)
    for requirement in requirements:
        name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]
        assert f"**{name}**" in section, f"README's dependency list does not justify {name}"


def test_readme_names_every_cli_command() -> None:
    from tests.test_cli import COMMANDS

    readme = (REPO / "README.md").read_text()
    for command in COMMANDS:
        assert f"lokaalmeten {command}" in readme, command


def test_api_doc_states_each_quantitys_aggregation_as_the_table_declares() -> None:
    from lokaalmeten.protocol.quantities import QUANTITIES

    doc = (REPO / "docs" / "api.md").read_text()
    listed = re.findall(r"^\| `(\w+)` \| [^|]+ \| `(\w+)` \|$", doc, re.MULTILINE)
    assert listed == [(q.name, q.aggregation) for q in QUANTITIES.values()]
