"""/v1/noise/indicators and /v1/export/noise.csv over a real store, SQLite and InfluxDB."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from lokaalmeten.node_meta import NodeMeta
from lokaalmeten.server.routes.noise import NoiseList
from tests.server.conftest import fill, get_ok, serve
from tests.test_noise_indicators import MAR_29, day_of


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient]:
    # The spring-forward day by hand (tests/test_noise_indicators.py): Lden 58.709, a night
    # of 7 hours. Readings every 600 s, so 5 of the 6 make an hour valid.
    fill(store_url, day_of(MAR_29, 6), [NodeMeta("n", 52.1, 5.1, interval=600)])
    with serve(store_url, noise_threshold_db=50.0) as test_client:
        yield test_client


def test_indicators_per_local_day(client: TestClient) -> None:
    body = get_ok(client, "/v1/noise/indicators?node=n&start=2026-03-28&end=2026-03-31")
    NoiseList.model_validate(body)  # the documented model
    assert body["threshold_db"] == 50.0
    (day,) = body["value"]  # days without readings are absent
    assert (day["node"], day["date"], day["start"]) == ("n", "2026-03-29", "2026-03-28T23:00:00Z")
    assert (day["hours"], day["valid_hours"], day["valid"]) == (23, 23, True)
    assert day["lden"] == pytest.approx(58.709, abs=1e-3)
    assert day["lday"]["level"] == pytest.approx(60.0)
    assert day["lnight"] == {
        "level": pytest.approx(43.590, abs=1e-3),
        "hours": 7,
        "valid_hours": 7,
        "coverage": 1.0,
        "readings": 42,
        "valid": True,
    }
    assert day["hours_above"] == 16  # day (60) and evening (55) hours; 50 is not above 50
    brief = get_ok(client, "/v1/noise/indicators?start=2026-03-29&end=2026-03-30&periods=false")
    NoiseList.model_validate(brief)
    assert brief["value"] == [
        {key: day[key] for key in day if key not in ("lday", "levening", "lnight")}
    ]


def test_noise_csv_with_semicolons_and_decimal_commas(client: TestClient) -> None:
    response = client.get(
        "/v1/export/noise.csv?start=2026-03-29&end=2026-03-30&delimiter=semicolon"
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text), delimiter=";"))
    assert len(rows) == 1
    row = rows[0]
    assert (row["date"], row["node"], row["hours"], row["lden"]) == (
        "2026-03-29",
        "n",
        "23",
        "58,71",
    )
    assert (row["lnight"], row["lnight_hours"], row["valid"]) == ("43,59", "7", "true")
    assert (row["hours_above"], row["threshold_db"], row["unit"]) == ("16", "50,0", "dB(A)")
    plain = client.get("/v1/export/noise.csv?start=2026-03-29&end=2026-03-30").text
    assert plain.splitlines()[1].startswith("2026-03-29,n,23,58.71,true,23,60.0,1.0,55.0,")


@pytest.mark.parametrize(
    ("query", "parameter", "phrase"),
    [
        ("start=29-03-2026", "start", "is not a date"),
        ("start=2026-03-29&end=2026-03-29", "start", "earlier than end"),
        ("start=2026-01-01&end=2026-03-01", "start", "at most 31 days"),
        ("end=soon", "end", "is not a date"),
    ],
)
def test_bad_days_get_a_clear_400(
    client: TestClient, query: str, parameter: str, phrase: str
) -> None:
    for path in ("/v1/noise/indicators", "/v1/export/noise.csv"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["parameter"], phrase in error["message"]) == (parameter, True)


def test_the_noise_and_aggregate_exports_take_a_fair_share() -> None:
    """They read every day's roll-ups of every node asked for: as heavy as /v1/aggregates."""
    from lokaalmeten.server.guard import is_heavy

    for path in ("/v1/noise/indicators", "/v1/export/noise.csv", "/v1/export/aggregates.csv"):
        assert is_heavy(path), path
    assert not is_heavy("/v1/nodes")
