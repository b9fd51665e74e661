"""The REST API over both real stores: answers, paging, and 400s that say what to fix."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from lokaalmeten.readings import FLAG_NAMES
from lokaalmeten.settings import ServerSettings
from tests.server.conftest import DAY, get_ok


def test_nodes_list_every_kit_with_quantities_in_vocabulary_order(client: TestClient) -> None:
    nodes = get_ok(client, "/v1/nodes")["value"]
    assert [n["node"] for n in nodes] == ["kit-1", "kit-2"]
    assert nodes[0] == {
        "node": "kit-1",
        "name": "Balkon Lombok",
        "description": "",
        "location": {"latitude": 52.091, "longitude": 5.122, "exactness": "rounded-3dp"},
        "quantities": ["pm25", "temperature"],
        "sensors": ["BME280", "SDS011"],
        "first_reading": "2026-11-28T00:00:00Z",
        "last_reading": "2026-11-28T00:29:00Z",
        "readings": 31,
        "interval_s": 145.0,
        "online": False,  # no status from it, and its last reading is days old
        "status_since": None,
        "firmware": None,
        "indoor": None,
        "height_m": None,
        "alerts": [],  # no gateway has raised any
    }
    assert nodes[1]["location"] == {
        "latitude": 52.100049,
        "longitude": 5.200051,
        "exactness": "exact",
    }
    assert nodes[1]["interval_s"] == 60


def test_readings_carry_unit_sensor_flags_and_utc_time(client: TestClient) -> None:
    body = get_ok(client, f"/v1/readings?node=kit-1&quantity=temperature&{DAY}")
    assert body == {
        "value": [
            {
                "node": "kit-1",
                "quantity": "temperature",
                "time": "2026-11-28T00:00:00Z",
                "value": 9.5,
                "unit": "°C",
                "sensor": "BME280",
                "flags": ["time_estimated"],
            }
        ]
    }


def test_filters_accept_lists_both_ways(client: TestClient) -> None:
    repeated = get_ok(client, f"/v1/readings?node=kit-1&node=kit-2&quantity=pm25&{DAY}")
    commas = get_ok(client, f"/v1/readings?node=kit-1,kit-2&quantity=pm25&{DAY}")
    assert repeated == commas
    assert len(repeated["value"]) == 35


def test_time_range_is_half_open_and_offsets_are_honoured(client: TestClient) -> None:
    # 01:05+01:00 is 00:05Z; to is exclusive, so 00:05 .. 00:09 gives five readings.
    url = "/v1/readings?node=kit-2&from=2026-11-28T01:00:00%2B01:00&to=2026-11-28T00:05:00Z"
    assert [r["value"] for r in get_ok(client, url)["value"]] == [20.0, 21.0, 22.0, 23.0, 24.0]
    naive = get_ok(client, "/v1/readings?node=kit-2&from=2026-11-28T00:03:00&to=2026-11-28T01")
    assert [r["value"] for r in naive["value"]] == [23.0, 24.0]  # no offset: UTC


def test_settings_refuse_a_default_page_larger_than_the_maximum() -> None:
    with pytest.raises(ValueError, match="may not exceed max_limit"):
        ServerSettings(max_limit=50, default_limit=100)


def test_following_next_links_returns_every_reading_once(client: TestClient) -> None:
    url: str | None = f"/v1/readings?quantity=pm25&limit=7&{DAY}"
    seen: list[tuple[str, str]] = []
    pages = 0
    while url:
        body = get_ok(client, url)
        seen.extend((r["node"], r["time"]) for r in body["value"])
        url = body.get("@nextLink")
        pages += 1
    assert len(seen) == 35 and len(set(seen)) == 35
    assert pages == 6  # 5 full pages of 7, then an empty last page


def test_default_range_is_the_last_day(client: TestClient) -> None:
    # The fixture's readings are in 2026-11-28; "now" in this test suite may be later.
    body = get_ok(client, "/v1/readings?node=kit-1")
    assert all(r["time"] >= "2026-11-27" for r in body["value"])


@pytest.mark.parametrize(
    ("query", "parameter", "phrase"),
    [
        ("quantity=pm2.5", "quantity", "unknown 'pm2.5'"),
        ("from=yesterday", "from", "not an ISO 8601 time"),
        ("from=2026-11-28&to=2026-11-27", "from", "earlier than to"),
        ("from=2025-01-01&to=2026-01-01", "from", "at most 31 days"),
        ("limit=0", "limit", "greater than or equal to 1"),
        ("limit=many", "limit", "valid integer"),
        ("limit=51", "limit", "at most 50"),
        ("cursor=bm9wZQ", "cursor", "follow @nextLink"),
    ],
)
def test_bad_parameters_get_a_400_naming_the_parameter(
    client: TestClient, query: str, parameter: str, phrase: str
) -> None:
    response = client.get(f"/v1/readings?{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["parameter"] == parameter
    assert phrase in error["message"]


def test_unknown_path_is_a_json_404(client: TestClient) -> None:
    response = client.get("/v1/nothing")
    assert response.status_code == 404
    assert "see /docs" in response.json()["error"]["message"]


def test_openapi_documents_the_endpoints(client: TestClient) -> None:
    spec = get_ok(client, "/openapi.json")
    assert {"/v1/nodes", "/v1/readings"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


def test_the_flags_description_names_every_flag(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["ReadingPublic"]
    description = schema["properties"]["flags"]["description"]
    for _, name in FLAG_NAMES:
        assert f"'{name}'" in description, name
