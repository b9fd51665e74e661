"""Hourly and daily aggregates with coverage: the same answers from SQLite and InfluxDB."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from lokaalmeten.node_meta import NodeMeta
from lokaalmeten.readings import Reading
from tests.server.conftest import T0, fill, get_ok, serve

H = 3600


def _readings() -> list[Reading]:
    """kit-3 reads every 600 s (6 an hour, 5 needed). 28 Nov: hours 0-19 full, 20-23 four
    readings each (invalid). 29 Nov: hours 0-9 full. Values 0..5 within an hour."""
    found = []
    for hour in range(34):
        per_hour = 4 if 20 <= hour < 24 else 6
        found += [
            Reading("kit-3", "pm10", T0 + hour * H + 600 * k, float(k), "SDS011")
            for k in range(per_hour)
        ]
    return found


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient]:
    fill(store_url, _readings(), [NodeMeta("kit-3", 51.5, 4.5, interval=600)])
    with serve(store_url, max_points=200) as test_client:
        yield test_client


WINDOW = "node=kit-3&from=2026-11-28T00:00:00Z&to=2026-11-30T00:00:00Z"


def test_hourly_means_carry_coverage_and_flag_thin_hours(client: TestClient) -> None:
    body = get_ok(client, f"/v1/aggregates?{WINDOW}&window=1h")
    assert body["window"] == "1h"
    hours = body["value"]
    assert len(hours) == 34  # empty hours are absent; thin ones are listed, flagged
    assert hours[0] == {
        "node": "kit-3",
        "quantity": "pm10",
        "start": "2026-11-28T00:00:00Z",
        "end": "2026-11-28T01:00:00Z",
        "method": "mean",
        "value": 2.5,
        "mean": 2.5,
        "min": 0.0,
        "max": 5.0,
        "count": 6,
        "excluded": 0,
        "unit": "µg/m³",
        "coverage": 1.0,
        "valid_hours": 1,
        "valid": True,
    }
    thin = hours[20]
    assert (thin["start"], thin["count"], thin["mean"], thin["max"]) == (
        "2026-11-28T20:00:00Z",
        4,
        1.5,
        3.0,
    )
    assert (thin["coverage"], thin["valid"], thin["valid_hours"]) == (0.6667, False, 0)


def test_answers_match_the_documented_model(client: TestClient) -> None:
    from lokaalmeten.server.routes.aggregates import AggregateList

    for window in ("1h", "1d"):
        body = get_ok(client, f"/v1/aggregates?{WINDOW}&window={window}")
        assert AggregateList.model_validate(body).model_dump(mode="json") == body
    empty = get_ok(client, "/v1/aggregates?node=kit-9&from=2026-11-28&to=2026-11-29")
    assert empty == {"window": "1h", "value": []}


def test_daily_means_need_18_valid_hours(client: TestClient) -> None:
    days = get_ok(client, f"/v1/aggregates?{WINDOW}&window=1d")["value"]
    assert [(d["start"], d["count"], d["valid_hours"], d["valid"]) for d in days] == [
        ("2026-11-28T00:00:00Z", 136, 20, True),
        ("2026-11-29T00:00:00Z", 60, 10, False),
    ]
    assert days[0]["mean"] == 324 / 136
    assert days[0]["coverage"] == round(136 / 144, 4)
    assert days[1]["coverage"] == round(60 / 144, 4)


def test_range_is_widened_to_whole_windows(client: TestClient) -> None:
    days = get_ok(
        client, "/v1/aggregates?node=kit-3&window=1d&from=2026-11-28T13:00Z&to=2026-11-28T14:00Z"
    )["value"]
    assert [d["start"] for d in days] == ["2026-11-28T00:00:00Z"]


@pytest.mark.parametrize(
    ("query", "parameter", "phrase"),
    [
        ("window=2h", "window", "'1h' or '1d'"),
        ("from=2026-11-01&to=2026-11-30&window=1h", "from", "at most 200 per request"),
        ("quantity=pm2,5", "quantity", "unknown 'pm2'"),
        ("near=52,5", "near", "send 3 numbers"),
        ("bbox=5,52,4,53", "bbox", "min above max"),
    ],
)
def test_oversized_or_bad_aggregate_queries_get_a_clear_400(
    client: TestClient, query: str, parameter: str, phrase: str
) -> None:
    response = client.get(f"/v1/aggregates?{query}")
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["parameter"] == parameter
    assert phrase in error["message"]


def test_each_quantity_by_its_method_and_flagged_readings_left_out(store_url: str) -> None:
    from lokaalmeten.readings import FLAG_CLIPPED

    hour = [
        Reading("kit-4", quantity, T0 + 600 * k, level + 10.0 * (k % 2))
        for quantity, level in (("noise_laeq", 50.0), ("noise_la10", 53.0))
        for k in range(6)
    ]
    hour.append(Reading("kit-4", "noise_laeq", T0 + 3599, 120.0, None, FLAG_CLIPPED))
    fill(store_url, hour, [NodeMeta("kit-4", 51.5, 4.5, interval=600)])
    with serve(store_url) as client:
        query = "node=kit-4&from=2026-11-28T00:00:00Z&to=2026-11-28T01:00:00Z&window=1h"
        la10, laeq = get_ok(client, f"/v1/aggregates?{query}")["value"]
        # By hand: 10·lg((3·10^5 + 3·10^6) / 6) = 57.404; the clipped 120 is left out.
        assert (laeq["method"], laeq["count"], laeq["excluded"]) == ("energetic_mean", 6, 1)
        assert laeq["value"] == laeq["mean"] == pytest.approx(57.404, abs=1e-3)
        assert (laeq["max"], laeq["coverage"], laeq["valid"]) == (60.0, 1.0, True)
        assert (la10["method"], la10["value"], la10["mean"]) == ("none", None, None)
        assert (la10["min"], la10["max"], la10["count"]) == (53.0, 63.0, 6)
        response = client.get(f"/v1/export/aggregates.csv?{query}&delimiter=semicolon")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        header, first, second = response.text.split("\r\n")[:3]
        assert header.split(";") == [
            "start", "end", "node", "quantity", "method", "value", "min", "max", "count",
            "excluded", "unit", "coverage", "valid_hours", "valid",
        ]  # fmt: skip
        assert first == (
            "2026-11-28T00:00:00Z;2026-11-28T01:00:00Z;kit-4;noise_la10;none;;53,0;63,0;6;0;"
            "dB(A);1,0;1;true"
        )
        assert second.split(";")[4:6] == ["energetic_mean", laeq_text(laeq["value"])]


def laeq_text(value: float) -> str:
    return repr(value).replace(".", ",")
