"""The portal's two text tables agree: same entries, same placeholders, the numbers in range.

A missing or extra entry would shift every later text of one language; a placeholder that
differs would raise on the kit when the page is made.
"""

from __future__ import annotations

import ast
import re

from tests.helpers import REPO

KIT = REPO / "firmware" / "kit"
PLACEHOLDER = re.compile(r"%[sd]")


def table(name: str) -> list[str]:
    tree = ast.parse((KIT / name).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "TEXT":
            return [ast.literal_eval(item) for item in node.value.elts]  # type: ignore[attr-defined]
    raise AssertionError(f"{name} has no TEXT")


def numbers(name: str) -> dict[str, int]:
    found = {}
    for node in ast.parse((KIT / name).read_text()).body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and getattr(node.value.func, "id", "") == "const"
        ):
            found[node.targets[0].id] = ast.literal_eval(node.value.args[0])  # type: ignore[attr-defined]
    return found


def test_both_languages_have_the_same_entries_and_placeholders() -> None:
    english, dutch = table("portal_en.py"), table("portal_nl.py")
    assert len(english) == len(dutch)
    for index, (en, nl) in enumerate(zip(english, dutch, strict=True)):
        assert PLACEHOLDER.findall(en) == PLACEHOLDER.findall(nl), (index, en, nl)
        assert (en and nl and en != nl) or en == "%s", (index, en)


def test_every_text_number_points_into_the_table_and_none_is_used_twice() -> None:
    size = len(table("portal_en.py"))
    form = {k: v for k, v in numbers("portal_form.py").items() if k.startswith("E_")}
    page = {k: v for k, v in numbers("portal.py").items() if k.startswith("_T_")}
    used = sorted([*form.values(), *page.values()])
    keys = ast.literal_eval(
        next(
            n.value
            for n in ast.parse((KIT / "portal_form.py").read_text()).body
            if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "KEYS"
        )
    )
    # The labels of the form's fields come first, then the errors and the page's texts.
    assert used == list(range(len(keys), size))
    english = table("portal_en.py")
    assert english[len(keys) - 1].startswith("Publish the exact location")
    assert english[page["_T_SAVE"]] == "Save and restart"
    assert english[form["E_REQUIRED"]] == "fill this in"


def test_the_pages_texts_are_files_on_the_kit() -> None:
    from lokaalmeten.kit_tools.build import firmware_sources

    sources = {p.as_posix() for p in firmware_sources()}
    assert {"kit/portal.py", "kit/portal_form.py", "kit/portal_en.py", "kit/portal_nl.py"} <= (
        sources
    )
