"""The OpenAPI document tells the truth: the statuses the server really answers, with their
error body; the fields a reading always has; SensorThings routes schemathesis can reach."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from lokaalmeten.readings import Reading
from tests.server.conftest import DAY, T0, fill, get_ok, serve


def test_a_reading_without_a_sensor_model_still_has_the_sensor_field(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lm.db'}"
    fill(url, [Reading("kit-9", "pm25", T0, 3.0, None)], [])
    with serve(url) as client:
        body = get_ok(client, f"/v1/readings?{DAY}")
        schema = get_ok(client, "/openapi.json")
    assert body["value"][0]["sensor"] is None
    assert "@nextLink" not in body
    required = schema["components"]["schemas"]["ReadingPublic"]["required"]
    assert "sensor" in required


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def test_every_operation_documents_the_refusals_it_can_answer(client: TestClient) -> None:
    schema = get_ok(client, "/openapi.json")
    for name, operation in _operations(schema):
        responses = operation["responses"]
        assert "422" not in responses, name  # validation errors are answered 400
        for status in ("400", "429", "503"):
            assert status in responses, (name, status)
            # Problem details (RFC 9457), but plain JSON where SensorThings answers.
            media = "application/json" if " /v1.1" in name else "application/problem+json"
            content = responses[status]["content"][media]["schema"]
            assert content["$ref"].endswith("/ErrorBody"), (name, status)
        for status in ("429", "503"):
            assert "Retry-After" in responses[status]["headers"], (name, status)
    error = schema["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["error"]


def test_sensorthings_entity_sets_are_paths_of_their_own(client: TestClient) -> None:
    paths = get_ok(client, "/openapi.json")["paths"]
    for entity_set in ("Things", "Datastreams", "Observations", "FeaturesOfInterest"):
        assert f"/v1.1/{entity_set}" in paths, entity_set
        assert f"/v1.1/{entity_set}({{id}})" in paths, entity_set
        names = {p["name"] for p in paths[f"/v1.1/{entity_set}"]["get"]["parameters"]}
        assert {"$filter", "$expand", "$orderby", "$select", "$top", "$skip"} <= names
    one = client.get("/v1.1/Things('kit-1')").json()
    assert one["@iot.id"] == "kit-1"
    listed = client.get("/v1.1/Datastreams", params={"$top": "1"}).json()
    assert len(listed["value"]) == 1
