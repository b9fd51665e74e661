"""HTTP ingest: our records, unchanged airRohr kits, credentials, a full spool, metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from lokaalmeten.gateway.http_ingest import MAX_BODY, create_ingest_app
from lokaalmeten.gateway.pipeline import Gateway
from lokaalmeten.readings import Reading
from lokaalmeten.settings import GatewaySettings
from tests.gateway.test_airrohr import COMBINED
from tests.helpers import record


def make_gateway(folder: Path, **changes: object) -> Gateway:
    values: dict[str, object] = {
        "broker": "mqtt://127.0.0.1:1",  # never connected: HTTP only
        "store": f"sqlite:///{folder / 'lm.db'}",
        "spool": str(folder / "spool.db"),
        "registry": str(folder / "registry.db"),
        "ingest_port": 0,
    }
    values.update(changes)
    return Gateway(GatewaySettings(**values))  # type: ignore[arg-type]


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    return make_gateway(tmp_path)


@pytest.fixture
def client(gateway: Gateway) -> Iterator[TestClient]:
    with TestClient(create_ingest_app(gateway)) as test_client:
        yield test_client


def spooled(gateway: Gateway) -> list[Reading]:
    return [reading for _, reading in gateway.spool.take(gateway.stores[0].url, 1000)]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_record_with_the_kits_token_is_spooled(gateway: Gateway, client: TestClient) -> None:
    assert gateway.registry is not None
    token = gateway.registry.add("kit-1")
    response = client.post("/v1/records", content=record(pm25=7.5, pm10=9.0), headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 2, "refused": []}
    assert sorted((r.quantity, r.value) for r in spooled(gateway)) == [("pm10", 9.0), ("pm25", 7.5)]


def test_a_list_of_records_is_one_commit(gateway: Gateway, client: TestClient) -> None:
    assert gateway.registry is not None
    token = gateway.registry.add("kit-1")
    body = json.dumps(
        [json.loads(record(seq=i, time_text=f"2026-11-27T10:0{i}:00Z")) for i in range(1, 4)]
    )
    response = client.post("/v1/records", content=body, headers=bearer(token))
    assert response.json()["stored"] == 3
    assert len(spooled(gateway)) == 3


@pytest.mark.parametrize("headers", [{}, bearer("not-a-token"), {"Authorization": "Basic x"}])
def test_without_a_valid_token_nothing_is_spooled_or_quarantined(
    gateway: Gateway, client: TestClient, headers: dict[str, str]
) -> None:
    response = client.post("/v1/records", content=b"{garbage", headers=headers)
    assert response.status_code == 401
    assert "Bearer" in response.json()["error"]["message"]
    assert spooled(gateway) == [] and gateway.spool.quarantined() == []


def test_kit_a_cannot_send_as_kit_b(gateway: Gateway, client: TestClient) -> None:
    assert gateway.registry is not None
    token_a = gateway.registry.add("kit-a")
    gateway.registry.add("kit-b")
    response = client.post("/v1/records", content=record(node="kit-b"), headers=bearer(token_a))
    assert response.status_code == 403
    assert response.json()["error"]["reason"] == "node_mismatch"
    assert spooled(gateway) == []


def test_an_invalid_record_is_refused_with_its_reason_and_quarantined(
    gateway: Gateway, client: TestClient
) -> None:
    assert gateway.registry is not None
    token = gateway.registry.add("kit-1")
    bad = json.dumps({"v": 1, "node": "kit-1", "seq": 1, "time": None, "values": {"pm2.5": 1}})
    response = client.post("/v1/records", content=bad, headers=bearer(token))
    assert response.status_code == 422
    assert response.json()["error"]["reason"] == "schema"
    assert [r.reason for r in gateway.spool.quarantined()] == ["schema"]


def test_an_unchanged_airrohr_kit_posts_its_combined_json(
    gateway: Gateway, client: TestClient
) -> None:
    assert gateway.registry is not None
    token = gateway.registry.add("esp8266-12345678")
    response = client.post(
        "/data.php",
        content=COMBINED,
        headers={"X-Sensor": "esp8266-12345678", "Content-Type": "application/json"},
        auth=("esp8266-12345678", token),
    )
    assert response.status_code == 200, response.text
    readings = spooled(gateway)
    assert {r.node for r in readings} == {"esp8266-12345678"}
    assert sorted(r.quantity for r in readings) == [
        "humidity",
        "pm10",
        "pm25",
        "pressure",
        "temperature",
    ]


def test_airrohr_kit_with_wrong_credentials_is_refused(
    gateway: Gateway, client: TestClient
) -> None:
    assert gateway.registry is not None
    gateway.registry.add("esp8266-12345678")
    response = client.post("/airrohr", content=COMBINED, auth=("esp8266-12345678", "guess"))
    assert response.status_code == 401
    other = gateway.registry.add("esp8266-99")
    forged = client.post(
        "/airrohr",
        content=COMBINED,
        auth=("esp8266-99", other),
        headers={"X-Sensor": "esp8266-12345678"},
    )
    assert forged.status_code == 403
    assert spooled(gateway) == []


def test_airrohr_line_protocol_to_write(gateway: Gateway, client: TestClient) -> None:
    assert gateway.registry is not None
    token = gateway.registry.add("esp8266-12345678")
    body = b"feinstaub,node=esp8266-12345678 SDS_P1=12.30,SDS_P2=8.10,signal=-67\n"
    response = client.post(
        "/write?db=sensorcommunity", content=body, auth=("esp8266-12345678", token)
    )
    assert response.status_code == 204, response.text
    assert sorted(r.quantity for r in spooled(gateway)) == ["pm10", "pm25"]


def test_a_full_spool_answers_503_with_retry_after(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path, spool_max_readings=1000, require_registration=False)
    gateway.spool.put([Reading("kit-1", "pm25", t, 1.0) for t in range(1000)])
    with TestClient(create_ingest_app(gateway)) as client:
        response = client.post("/v1/records", content=record())
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "spool_max_readings" in response.json()["error"]["message"]


def test_oversized_bodies_are_refused(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path, require_registration=False)
    with TestClient(create_ingest_app(gateway)) as client:
        response = client.post("/v1/records", content=b"x" * (MAX_BODY + 1))
    assert response.status_code == 413


def test_health_reports_what_is_wrong(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 503  # this gateway never connected to its broker
    body = response.json()
    assert body["status"] == "degraded"
    assert any("not connected to the broker" in p for p in body["problems"])


def test_metrics_in_prometheus_format(gateway: Gateway, client: TestClient) -> None:
    client.post("/v1/records", content=b"{}", headers=bearer("nope"))
    assert gateway.registry is not None
    token = gateway.registry.add("kit-1")
    client.post("/v1/records", content=b'{"node": "kit-1"}', headers=bearer(token))
    text = client.get("/metrics").text
    assert 'lokaalmeten_gateway_refused_total{reason="schema"} 1.0' in text
    assert "lokaalmeten_gateway_http_requests_received_total 1.0" in text
    assert "lokaalmeten_gateway_spool_depth 0.0" in text
    assert "lokaalmeten_gateway_mqtt_connected 0.0" in text


def test_open_mode_takes_records_without_credentials(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path, require_registration=False)
    with TestClient(create_ingest_app(gateway)) as client:
        response = client.post("/v1/records", content=record())
    assert response.status_code == 200
    assert len(spooled(gateway)) == 1


def test_served_by_the_running_gateway(tmp_path: Path) -> None:
    """The same app, over a real socket, as `lokaalmeten gateway` serves it."""
    from lokaalmeten.services.ports import free_port

    gateway = make_gateway(
        tmp_path, require_registration=False, ingest_port=free_port(), ingest_host="127.0.0.1"
    )
    gateway._start_http()
    try:
        response = httpx.post(
            f"http://127.0.0.1:{gateway.ingest_port}/v1/records", content=record()
        )
        assert response.status_code == 200
    finally:
        gateway._http_server.should_exit = True


def test_every_metric_is_documented(gateway: Gateway, client: TestClient) -> None:
    from tests.helpers import REPO

    gateway.metrics.refuse("schema")
    doc = (REPO / "docs" / "gateway.md").read_text()
    names = {
        line.split("{")[0].split(" ")[0]
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("lokaalmeten_gateway_")
    }
    assert names
    for name in names:
        documented = name.removesuffix("_created")
        assert f"`{documented}" in doc, f"docs/gateway.md does not describe {name}"
