"""Locations leave the server rounded (unless the owner chose exact), and area filters use
the published place; latest values and GeoJSON on both stores."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.server.conftest import get_ok


def _coordinates(value: object) -> list[float]:
    """Every number in a JSON document that sits under a latitude/longitude/coordinates key."""
    found: list[float] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("latitude", "longitude", "coordinates"):
                found += item if isinstance(item, list) else [item]
            else:
                found += _coordinates(item)
    elif isinstance(value, list):
        for item in value:
            found += _coordinates(item)
    return found


def test_no_output_carries_the_exact_home_location(client: TestClient) -> None:
    for url in ("/v1/nodes", "/v1/nodes/kit-1", "/v1/latest", "/v1/export/nodes.geojson"):
        body = get_ok(client, url)
        text = json.dumps(body)
        assert "52.091234" not in text and "5.121987" not in text, url
        assert 52.091 in _coordinates(body) and 5.122 in _coordinates(body), url
    csv = client.get("/v1/export/readings.csv?node=kit-1&from=2026-11-28&to=2026-11-29").text
    assert "52.091234" not in csv and ",52.091,5.122," in csv


def test_single_node_and_its_404(client: TestClient) -> None:
    assert get_ok(client, "/v1/nodes/kit-2")["name"] == "School"
    response = client.get("/v1/nodes/kit-9")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "status": 404,
        "message": "node: no node 'kit-9' has readings; see /v1/nodes",
        "parameter": "node",
    }


def test_quantities_list_units(client: TestClient) -> None:
    quantities = {q["name"]: q for q in get_ok(client, "/v1/quantities")["value"]}
    assert quantities["pm25"]["unit"] == "µg/m³" and quantities["noise_laeq"]["unit"] == "dB(A)"
    assert quantities["pm25"]["aggregation"] == "mean"
    assert quantities["noise_laeq"]["aggregation"] == "energetic_mean"
    assert quantities["noise_la90"]["aggregation"] == "none"


def test_latest_values_per_node(client: TestClient) -> None:
    latest = {n["node"]: n for n in get_ok(client, "/v1/latest")["value"]}
    assert latest["kit-1"]["values"]["pm25"] == {
        "value": 34.0,
        "unit": "µg/m³",
        "time": "2026-11-28T00:29:00Z",
        "sensor": "SDS011",
    }
    assert latest["kit-1"]["values"]["temperature"]["value"] == 9.5
    assert latest["kit-2"]["location"]["exactness"] == "exact"


def test_bbox_and_near_select_by_published_place(client: TestClient) -> None:
    day = "from=2026-11-28&to=2026-11-29"
    # The box ends at the rounded 52.091: kit-1 is in, though its exact latitude is outside.
    inside = get_ok(client, f"/v1/readings?bbox=5.1,52.0,5.15,52.091&{day}")["value"]
    assert {r["node"] for r in inside} == {"kit-1"}
    near = get_ok(client, "/v1/nodes?near=52.1,5.2,100")["value"]
    assert [n["node"] for n in near] == ["kit-2"]
    nowhere = get_ok(client, f"/v1/readings?bbox=0,0,1,1&{day}")["value"]
    assert nowhere == []


def test_geojson_is_a_feature_collection_lon_lat(client: TestClient) -> None:
    response = client.get("/v1/export/nodes.geojson")
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert body["type"] == "FeatureCollection"
    features = {f["id"]: f for f in body["features"]}
    assert features["kit-1"]["geometry"] == {"type": "Point", "coordinates": [5.122, 52.091]}
    assert features["kit-1"]["properties"]["latest"]["pm25"]["value"] == 34.0
    assert features["kit-2"]["properties"]["exactness"] == "exact"
