"""Generated payloads never crash the gateway; each is stored or refused with a reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lokaalmeten.gateway.http_ingest import create_ingest_app
from lokaalmeten.gateway.metrics import GatewayMetrics
from lokaalmeten.gateway.pipeline import Gateway
from lokaalmeten.gateway.validate import RecordValidator
from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.services.mosquitto import Mosquitto
from tests.gateway.harness import RunningGateway, publish, publisher, settings_for
from tests.helpers import wait_until

NOW = 1795824000

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

# Near-valid records: each field either right or replaced by something arbitrary.
records = st.fixed_dictionaries(
    {
        "v": st.sampled_from([1, 1, 1, 2, "1"]),
        "node": st.sampled_from(["kit-1", "kit-1", "KIT", ""]),
        "seq": st.integers(min_value=-2, max_value=2**33),
        "time": st.sampled_from(
            [
                "2026-11-27T10:00:00Z",
                None,
                "2026-13-01T00:00:00Z",
                "2099-01-01T00:00:00Z",
                "yesterday",
            ]
        ),
        "values": st.dictionaries(
            st.sampled_from([*QUANTITIES, "pm2.5"]),
            st.floats(allow_nan=True) | st.integers() | st.text(max_size=3),
            max_size=5,
        ),
    },
    optional={"sensors": json_values, "flags": json_values, "rssi": json_values},
)

payloads = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    records.map(lambda r: json.dumps(r).encode()),
)


@settings(max_examples=400, deadline=None)
@given(payloads)
def test_validation_always_answers_readings_or_a_reason(payload: bytes) -> None:
    validator = RecordValidator(GatewayMetrics(), "lokaalmeten")
    checked = validator.mqtt("lokaalmeten/kit-1/readings", payload, NOW)
    assert checked.readings or checked.refusals
    for refusal in checked.refusals:
        assert refusal.reason and refusal.detail and refusal.payload == payload
    for reading in checked.readings:
        assert QUANTITIES[reading.quantity].plausible(reading.value)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningGateway, Any]]:
    if Mosquitto.find() is None:
        pytest.skip("mosquitto not installed")
    folder = tmp_path_factory.mktemp("fuzz")
    broker = Mosquitto.start(folder / "mqtt")
    gateway = RunningGateway(Gateway(settings_for(broker, folder)))
    client = publisher(broker, "fuzz-publisher")
    yield gateway, client
    client.loop_stop()
    gateway.stop()
    broker.stop()


@pytest.mark.mosquitto
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(payloads, min_size=1, max_size=15))
def test_generated_mqtt_messages_never_stop_the_gateway(
    running: tuple[RunningGateway, Any], batch: list[bytes]
) -> None:
    gateway, client = running
    metrics = gateway.gateway.metrics
    before = metrics.count("messages_received")
    for payload in batch:
        publish(client, "lokaalmeten/kit-1/readings", payload)
    wait_until(
        lambda: metrics.count("messages_received") == before + len(batch),
        10,
        "every message at the gateway",
    )
    wait_until(lambda: gateway.gateway.spool.depth() == 0, 10, "the spool to drain")
    assert gateway.thread.is_alive() and gateway.error is None


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, TestClient]]:
    folder = tmp_path_factory.mktemp("fuzz-http")
    gateway = Gateway(_http_settings(folder))
    with TestClient(create_ingest_app(gateway)) as client:
        yield gateway, client


def _http_settings(folder: Path) -> Any:
    from lokaalmeten.settings import GatewaySettings

    return GatewaySettings(
        broker="mqtt://127.0.0.1:1",
        store=f"sqlite:///{folder / 'lm.db'}",
        spool=str(folder / "spool.db"),
        registry=str(folder / "r.db"),
        require_registration=False,
        ingest_port=0,
    )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=payloads, path=st.sampled_from(["/v1/records", "/airrohr", "/write"]))
def test_generated_http_bodies_get_an_answer_never_a_server_error(
    http: tuple[Gateway, TestClient], payload: bytes, path: str
) -> None:
    _, client = http
    response = client.post(path, content=payload)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["message"]
