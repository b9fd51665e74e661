"""A fuzzer over the SensorThings query options: deep and wide expressions, valid and not,
for $filter, $orderby, $expand and $select. No answer may be a server error (501 for a
function of the standard this server lacks is the one 5xx allowed, with its error body),
and none may run into the request's time limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lokaalmeten.server.app import create_app
from lokaalmeten.settings import ServerSettings
from tests.server.conftest import META, READINGS, fill, registry_for
from tests.test_noise_indicators import MAR_29, day_of

PATHS = [
    "Observations",
    "Things",
    "Datastreams",
    "Datastreams('kit-1:pm25')/Observations",
    "Datastreams('kit-1:lden')/Observations",
    "Datastreams('kit-1:lnight')",
    "Things('kit-1')/Datastreams",
    "Sensors",
    "Locations",
]
NAMES = [
    "result",
    "phenomenonTime",
    "resultTime",
    "name",
    "description",
    "@iot.id",
    "id",
    "properties/node",
    "Datastream/@iot.id",
    "Datastream/Thing/name",
    "Thing/name",
    "unknown",
    "Datastreams",
    "location",
    "parameters/sensor",
    "parameters/valid",
]
FUNCTIONS = [
    "substringof",
    "contains",
    "startswith",
    "length",
    "tolower",
    "year",
    "hour",
    "date",
    "round",
    "floor",
    "geo.distance",
    "st_within",
    "now",
    "concat",
    "substring",
    "before",
    "nosuch",
]
NAVIGATIONS = [
    "Datastreams",
    "Thing",
    "Observations",
    "Sensor",
    "ObservedProperty",
    "Locations",
    "FeatureOfInterest",
    "Datastream",
    "HistoricalLocations",
    "Things",
    "Nope",
]

literals = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(max_size=8).map(lambda t: "'" + t.replace("'", "''") + "'"),
    st.sampled_from(
        [
            "2026-11-28T00:00:00Z",
            "2026-11-28",
            "true",
            "null",
            "geography'POINT(5.1 52.1)'",
            "geography'POLYGON((0 0, 1 0, 0 0))'",
            "'unclosed",
            ")",
            "(",
            ",",
            "eq",
            "-",
        ]
    ),
)
leaves = st.one_of(st.sampled_from(NAMES), literals)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(
            children,
            st.sampled_from(
                ["eq", "ne", "gt", "ge", "lt", "le", "and", "or", "add", "sub", "mul", "div", "mod"]
            ),
            children,
        ).map(" ".join),
        children.map(lambda c: f"not {c}"),
        children.map(lambda c: f"({c})"),
        children.map(lambda c: f"-{c}"),
        st.tuples(st.sampled_from(FUNCTIONS), st.lists(children, max_size=3)).map(
            lambda f: f"{f[0]}({', '.join(f[1])})"
        ),
        # wide: many terms joined
        st.lists(children, min_size=2, max_size=60).map(" or ".join),
        # deep: many levels at once
        st.tuples(st.integers(1, 300), children).map(lambda d: "(" * d[0] + d[1] + ")" * d[0]),
    )


expressions = st.recursive(leaves, _combine, max_leaves=40)
orderings = st.lists(
    st.tuples(expressions, st.sampled_from(["", " asc", " desc"])).map("".join), max_size=4
).map(", ".join)
selects = st.lists(st.sampled_from([*NAMES, *NAVIGATIONS, "@iot.selfLink"]), max_size=6).map(
    ",".join
)


def _expand_item(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    options = st.lists(
        st.one_of(
            inner.map(lambda e: f"$expand={e}"),
            st.integers(0, 100_000).map(lambda n: f"$top={n}"),
            st.integers(0, 100_000).map(lambda n: f"$skip={n}"),
            expressions.map(lambda e: f"$filter={e}"),
            selects.map(lambda s: f"$select={s}"),
            st.just("$count=true"),
        ),
        max_size=3,
    ).map(";".join)
    return st.tuples(st.sampled_from(NAVIGATIONS), options).map(
        lambda t: f"{t[0]}({t[1]})" if t[1] else t[0]
    )


expansions = st.recursive(
    st.sampled_from(NAVIGATIONS),
    lambda inner: st.one_of(
        _expand_item(inner),
        st.lists(_expand_item(inner), min_size=2, max_size=4).map(",".join),
        st.tuples(st.sampled_from(NAVIGATIONS), inner).map("/".join),
    ),
    max_leaves=12,
)
queries = st.fixed_dictionaries(
    {},
    optional={
        "$filter": expressions,
        "$orderby": orderings,
        "$expand": expansions,
        "$select": selects,
        "$top": st.integers(0, 20_000).map(str),
        "$count": st.sampled_from(["true", "false"]),
    },
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "lm.db"
    # kit-1 also measures noise: its daily indicators are Datastreams of their own.
    noise = [r._replace(node="kit-1") for r in [*day_of(MAR_29, 6), *day_of(MAR_29 + 23 * 3600, 7)]]
    fill(f"sqlite:///{path}", READINGS + noise, META)
    app = create_app(
        ServerSettings(
            store=f"sqlite:///{path}",
            registry=str(registry_for(f"sqlite:///{path}")),
            rate_limit=0,
            max_heavy_total=0,
            max_heavy_per_client=0,
        )
    )
    with TestClient(app) as test_client:
        yield test_client


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(path=st.sampled_from(PATHS), query=queries)
def test_no_query_option_gets_a_server_error(
    client: TestClient, path: str, query: dict[str, str]
) -> None:
    response = client.get(f"/v1.1/{path}", params=query)
    if response.status_code >= 500:
        error = response.json()["error"]
        assert response.status_code == 501 and "not" in error["message"], (path, query, error)
    if response.status_code >= 400:
        assert set(response.json()["error"]) >= {"status", "message"}
