"""`/v1/series`: one kit's raw readings as columns in one answer, exactly what `/v1/readings`
pages through, on SQLite and InfluxDB; bounded, with clear refusals."""

from __future__ import annotations

from fastapi.testclient import TestClient

from lokaalmeten.readings import FLAG_SPIKE, Reading

from .conftest import DAY, META, READINGS, T0, fill, get_ok, serve


def _paged(client: TestClient, url: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    while url:
        page = get_ok(client, url)
        rows += page["value"]
        url = page.get("@nextLink", "")
    return rows


def test_a_series_holds_exactly_the_readings_the_pages_hold(client: TestClient) -> None:
    answer = get_ok(client, f"/v1/series?node=kit-1&{DAY}")
    paged = _paged(client, f"/v1/readings?node=kit-1&{DAY}&limit=10")
    assert len(paged) > 30  # four pages of /v1/readings, one answer here
    assert answer["node"] == "kit-1" and answer["count"] == len(paged) == 31
    assert answer["from"] == "2026-11-28T00:00:00Z" and answer["to"] == "2026-11-29T00:00:00Z"
    columns = {s["quantity"]: s for s in answer["series"]}
    assert set(columns) == {"pm25", "temperature"}
    pm = columns["pm25"]
    assert pm["unit"] == "µg/m³"
    assert pm["time"] == [T0 + 60 * i for i in range(30)]
    assert pm["value"] == [5.0 + i for i in range(30)]
    assert pm["flagged"] == []
    # The flags are those /v1/readings names.
    assert columns["temperature"]["flagged"] == [[0, ["time_estimated"]]]
    by_row = [(r["quantity"], r["value"]) for r in paged]
    by_column = [(q, v) for q, s in sorted(columns.items()) for v in s["value"]]
    assert sorted(by_row) == sorted(by_column)


def test_a_series_can_be_one_quantity_and_a_range(client: TestClient) -> None:
    answer = get_ok(
        client,
        "/v1/series?node=kit-1&quantity=pm25&from=2026-11-28T00:10:00Z&to=2026-11-28T00:20:00Z",
    )
    assert [s["quantity"] for s in answer["series"]] == ["pm25"]
    assert answer["series"][0]["value"] == [15.0 + i for i in range(10)]


def test_a_kit_without_readings_has_empty_series(client: TestClient) -> None:
    assert get_ok(client, f"/v1/series?node=nobody&{DAY}")["series"] == []


def test_more_than_max_series_points_is_refused_with_what_to_ask_instead(store_url: str) -> None:
    fill(store_url, READINGS, META)
    with serve(store_url, max_series_points=20) as client:
        refused = client.get(f"/v1/series?node=kit-1&{DAY}")
        assert refused.status_code == 400
        assert refused.headers["content-type"].startswith("application/problem+json")
        body = refused.json()
        assert "max_series_points" in body["detail"] and "/v1/aggregates" in body["detail"]
        assert body["invalid-params"][0]["name"] == "from"
        assert client.get(f"/v1/series?node=kit-2&{DAY}").status_code == 200


def test_bad_input_is_a_clear_400(client: TestClient) -> None:
    for url, parameter in (
        ("/v1/series", "node"),
        (f"/v1/series?node=kit-1&quantity=smog&{DAY}", "quantity"),
        ("/v1/series?node=kit-1&from=yesterday", "from"),
        ("/v1/series?node=kit-1&from=2026-01-01&to=2026-12-01", "from"),
    ):
        answer = client.get(url)
        assert answer.status_code in (400, 422), (url, answer.text)
        assert parameter in answer.text, (url, answer.text)


def test_flagged_readings_are_listed_by_index(store_url: str) -> None:
    flagged = [
        Reading("kit-3", "pm10", T0 + 60 * i, 10.0 + i, "SDS011", FLAG_SPIKE if i == 2 else 0)
        for i in range(4)
    ]
    fill(store_url, flagged, [])
    with serve(store_url) as client:
        answer = get_ok(client, f"/v1/series?node=kit-3&{DAY}")
    assert answer["series"][0]["flagged"] == [[2, ["spike"]]]
