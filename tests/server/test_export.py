"""Streaming CSV: RFC 4180, loads in pandas with the right types, `;` variant, checks first."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from lokaalmeten.readings import FLAG_HIGH_HUMIDITY, FLAG_STUCK, FLAG_TIME_BACKDATED, Reading
from tests.server.conftest import T0, fill, serve

DAY = "from=2026-11-28&to=2026-11-29"


def test_csv_loads_in_pandas_with_types_and_utc(client: TestClient) -> None:
    response = client.get(f"/v1/export/readings.csv?{DAY}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv; charset=utf-8")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"time,node,latitude,longitude,quantity,value,unit,")
    assert b"\r\n" in response.content  # RFC 4180 line breaks
    frame = pd.read_csv(io.BytesIO(response.content), parse_dates=["time"])
    assert len(frame) == 36
    assert str(frame["time"].dtype).startswith("datetime64") and str(frame["time"].dt.tz) == "UTC"
    assert frame["value"].dtype == "float64"
    # Flag names joined by '|', empty when none: pandas reads an empty field as missing.
    assert set(frame["flags"].fillna("")) == {"", "time_estimated"}
    assert frame["latitude"].dtype == "float64"
    first = frame.iloc[0]
    assert first["time"] == pd.Timestamp("2026-11-28T00:00:00Z")
    assert (first["node"], first["quantity"], first["value"], first["unit"]) == (
        "kit-1",
        "pm25",
        5.0,
        "µg/m³",
    )
    estimated = frame[frame["quantity"] == "temperature"].iloc[0]
    assert (estimated["sensor"], estimated["flags"]) == ("BME280", "time_estimated")


def test_semicolon_variant_uses_a_decimal_comma(client: TestClient) -> None:
    text = client.get(
        f"/v1/export/readings.csv?node=kit-1&quantity=pm25&{DAY}&delimiter=semicolon"
    ).text
    lines = text.split("\r\n")
    assert lines[0] == "time;node;latitude;longitude;quantity;value;unit;sensor;flags"
    assert lines[1] == "2026-11-28T00:00:00Z;kit-1;52,091;5,122;pm25;5,0;µg/m³;SDS011;"
    frame = pd.read_csv(io.StringIO(text), sep=";", decimal=",")
    assert frame["value"].sum() == sum(5.0 + i for i in range(30))


def test_flags_are_written_by_name_joined_by_a_bar(store_url: str) -> None:
    flags = FLAG_TIME_BACKDATED | FLAG_STUCK | FLAG_HIGH_HUMIDITY
    fill(store_url, [Reading("kit-1", "pm25", T0, 12.34, "SDS011", flags)], [])
    with serve(store_url) as client:
        for delimiter, sep in (("comma", ","), ("semicolon", ";")):
            text = client.get(f"/v1/export/readings.csv?{DAY}&delimiter={delimiter}").text
            row = text.split("\r\n")[1]
            assert row.endswith(f"{sep}SDS011{sep}time_backdated|stuck|high_humidity"), row


def test_awkward_names_are_quoted(store_url: str) -> None:
    fill(store_url, [Reading('kit "7", west', "pm25", T0, 1.25, "A,B")], [])
    with serve(store_url) as client:
        text = client.get(f"/v1/export/readings.csv?{DAY}").text
    assert text.split("\r\n")[1] == (
        '2026-11-28T00:00:00Z,"kit ""7"", west",,,pm25,1.25,µg/m³,"A,B",'
    )
    assert pd.read_csv(io.StringIO(text))["node"][0] == 'kit "7", west'


@pytest.mark.parametrize(
    ("query", "parameter"),
    [("delimiter=tab", "delimiter"), ("from=2020-01-01&to=2026-01-01", "from"), ("to=soon", "to")],
)
def test_bad_parameters_are_refused_before_streaming(
    client: TestClient, query: str, parameter: str
) -> None:
    response = client.get(f"/v1/export/readings.csv?{query}")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["error"]["parameter"] == parameter


@pytest.mark.parametrize("path", ["/v1/export/nodes.geojson", "/v1/latest"])
def test_a_box_without_kits_answers_nothing_on_both_stores(client: TestClient, path: str) -> None:
    # The area filter that matches nothing is a node id no kit can have (a NUL): InfluxQL
    # cannot carry it in a string literal, and the store's query must not fail on it.
    response = client.get(f"{path}?bbox=1,1,2,2")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.get("features", body.get("value")) == []
