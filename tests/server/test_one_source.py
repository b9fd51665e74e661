"""The server states no fact of its own that a table in lokaalmeten/ holds: the coverage rule,
the quality flags' names and the quantities' units are read from their one source, so these
tests fail when a copy of one reappears in server/ (descriptions included)."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import get_args

from fastapi.testclient import TestClient

from lokaalmeten.noise_indicators import VALID_SHARE
from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.readings import EXCLUDED_FROM_AGGREGATES, FLAG_NAMES
from lokaalmeten.server import params
from lokaalmeten.server.catalogue import VALID_PERCENT, hour_threshold
from tests.helpers import REPO

SERVER = REPO / "server"
_NAMES = [name for _, name in FLAG_NAMES]
# '%' is a unit too short to tell from prose; every other one only a copy would write.
_UNITS = sorted({q.unit for q in QUANTITIES.values()} - {"%"})
# The one table of what each flag means, keyed by the flags' names.
_MEANINGS = SERVER / "routes" / "readings.py"


def _modules() -> list[Path]:
    modules = sorted(SERVER.rglob("*.py"))
    assert len(modules) > 20, modules
    return modules


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _constants(path: Path) -> Iterator[tuple[int, object]]:
    """Every literal of the module but its docstrings, with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in skip:
            yield node.lineno, node.value


def _copies(check: Callable[[Path, object], bool]) -> list[str]:
    found = []
    for path in _modules():
        for line, value in _constants(path):
            if check(path, value):
                found.append(f"{path.relative_to(REPO)}:{line}: {value!r}")
    return found


def test_no_module_states_the_coverage_rule_as_a_number() -> None:
    def copy(path: Path, value: object) -> bool:
        if isinstance(value, float):
            return value == VALID_SHARE
        return isinstance(value, str) and VALID_PERCENT in value

    assert _copies(copy) == []


def test_no_module_defines_the_coverage_rule_again() -> None:
    names = {"VALID_SHARE", "VALID_COVERAGE", "VALID_HOURS_PER_DAY"}
    found = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name) and target.id in names:
                        found.append(f"{path.relative_to(REPO)}:{node.lineno}: {target.id}")
    assert found == []


def test_the_hour_threshold_follows_the_rule() -> None:
    # 60-s readings: 60 expected, VALID_SHARE of them needed, rounded up.
    assert hour_threshold(60) == -(-round(VALID_SHARE * 60 * 1000) // 1000)


def test_no_module_copies_the_flag_names() -> None:
    def copy(path: Path, value: object) -> bool:
        if not isinstance(value, str):
            return False
        named = [n for n in _NAMES if re.search(rf"\b{n}\b", value)]
        # One name alone is a key of the table of meanings; two or more are a copied list.
        return len(named) > 1 or (named == [value] and path != _MEANINGS)

    assert _copies(copy) == []


def test_no_module_writes_a_unit_of_the_quantity_table() -> None:
    # The page's texts are prose in two languages ("onder 55 dB(A)"), not data.
    texts = SERVER / "web" / "i18n.py"

    def copy(path: Path, value: object) -> bool:
        return (
            path != texts
            and isinstance(value, str)
            and any(
                re.search(rf"(?<![A-Za-z]){re.escape(unit)}(?![A-Za-z])", value) for unit in _UNITS
            )
        )

    assert _copies(copy) == []


def test_the_aggregates_name_the_flags_they_leave_out(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    excluded = schemas["AggregatePublic"]["properties"]["excluded"]["description"]
    left_out = [name for bit, name in FLAG_NAMES if bit & EXCLUDED_FROM_AGGREGATES]
    assert [n for n in _NAMES if re.search(rf"\b{n}\b", excluded)] == left_out
    valid = schemas["AggregatePublic"]["properties"]["valid"]["description"]
    assert f"coverage >= {VALID_SHARE}" in valid


def _description(parameter: object) -> str:
    return str(get_args(parameter)[1].description)


def test_the_routes_share_one_description_per_filter(client: TestClient) -> None:
    """Every /v1 route takes its node, quantity, area and time filters from server/params.py:
    a route that writes its own Query for one of them shows here as another description."""
    shared = {
        "node": {_description(params.NodeFilter)},
        "quantity": {_description(params.QuantityFilter)},
        "bbox": {_description(params.BboxFilter)},
        "near": {_description(params.NearFilter)},
        "from": {_description(params.FromParam), _description(params.WindowFromParam)},
        "to": {_description(params.ToParam), _description(params.WindowToParam)},
    }
    # /v1/corrected takes one kit and one of two PM quantities, /v1/series one kit, and
    # /v1/reference one of two PM quantities of a reference station: parameters of another
    # kind (one kit: params.OneNodeParam).
    own = {
        "/v1/corrected",
        "/v1/series",
        "/v1/export/corrected.csv",
        "/v1/reference",
        "/v1/export/reference.csv",
    }
    seen: dict[str, set[str]] = {name: set() for name in shared}
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                name = parameter["name"]
                if (
                    name in shared
                    and parameter["in"] == "query"
                    and path.startswith("/v1/")
                    and not (path in own and name in ("node", "quantity"))
                ):
                    seen[name].add(parameter.get("description", ""))
    for name, descriptions in seen.items():
        assert descriptions and descriptions <= shared[name], (name, descriptions)


def test_sensorthings_is_one_package_whose_names_mean_one_thing() -> None:
    # server/catalogue.py is the one catalogue, and a node is a kit: no class or type alias
    # of either name elsewhere, and no SensorThings module outside its package.
    assert sorted(p.name for p in SERVER.glob("sta_*.py")) == []
    assert not (SERVER / "routes" / "sensorthings.py").exists()
    found = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
            found += [f"{path.relative_to(REPO)}: {n}" for n in names if n in ("Catalogue", "Node")]
    assert found == []


def test_every_route_with_an_area_filter_takes_all_three(client: TestClient) -> None:
    """node, bbox and near come together from params.AreaNodes, never one by one."""
    area = {"node", "bbox", "near"}
    routes = 0
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        for operation in operations.values():
            names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            if path.startswith("/v1/") and names & {"bbox", "near"}:
                routes += 1
                assert area <= names, (path, names)
    assert routes >= 8
