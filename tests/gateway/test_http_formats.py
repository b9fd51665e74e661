"""The HTTP ingest is one route module per format over one sign-in and commit path, and a
record posted in a list is checked as decoded, not encoded and parsed again."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from lokaalmeten.gateway import decode, http_ingest
from lokaalmeten.gateway.http_ingest import FORMATS, create_ingest_app
from lokaalmeten.gateway.metrics import GatewayMetrics
from lokaalmeten.gateway.validate import RecordValidator
from tests.gateway.test_http_ingest import bearer, make_gateway, spooled
from tests.helpers import record

NOW = 1795824000


def test_every_format_module_brings_its_endpoints(tmp_path: Path) -> None:
    assert len(FORMATS) == 3
    gateway = make_gateway(tmp_path, lorawan_applications="app=a-secret-of-16-chars")
    with TestClient(create_ingest_app(gateway)) as client:
        for path in ("/v1/records", "/airrohr", "/data.php", "/write", "/lorawan/ttn"):
            # Found, and behind the shared sign-in (no credentials: 401, not 404).
            assert client.post(path, content=b"{}").status_code == 401, path
        assert client.post("/v2/other", content=b"{}").status_code == 404
    # The app itself keeps no format's endpoint: each lives in its own route module.
    source = Path(http_ingest.__file__).read_text()
    assert '"/v1/records"' not in source and '"/write"' not in source
    assert '"/lorawan/ttn"' not in source


def test_a_record_of_a_list_is_encoded_only_when_refused() -> None:
    validator = RecordValidator(GatewayMetrics(), "lokaalmeten", log_refusals=False)
    encoded: list[object] = []

    def raw_of(doc: object) -> bytes:
        encoded.append(doc)
        return json.dumps(doc).encode()

    good = json.loads(record(pm25=7.5))
    checked = validator.document("http:/v1/records", "kit-1", good, lambda: raw_of(good), NOW)
    assert [r.value for r in checked.readings] == [7.5] and encoded == []

    wild = json.loads(record(pm25=7.5, humidity=130.0))
    checked = validator.document("http:/v1/records", "kit-1", wild, lambda: raw_of(wild), NOW)
    assert [r.quantity for r in checked.readings] == ["pm25"]
    assert encoded == [wild]
    assert checked.refusals[0].payload == json.dumps(wild).encode()


def test_a_refused_record_of_a_list_is_quarantined_as_the_json_it_was() -> None:
    validator = RecordValidator(GatewayMetrics(), "lokaalmeten", log_refusals=False)
    first, second = json.loads(record(seq=1)), json.loads(record(seq=2, humidity=130.0))
    body = json.dumps([first, second]).encode()
    checked = decode.records(validator, body, "kit-1", NOW)
    assert [r.quantity for r in checked.readings] == ["pm25"]
    assert [r.payload for r in checked.refusals] == [json.dumps(second).encode()]


def test_a_new_format_gets_the_shared_sign_in(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path)
    assert gateway.registry is not None
    token = gateway.registry.add("kit-1")
    with TestClient(create_ingest_app(gateway)) as client:
        refused = client.post("/v1/records", content=record(), headers=bearer("wrong"))
        assert refused.status_code == 401
        assert refused.json()["error"]["reason"] == "unauthorised"
        assert client.post("/v1/records", content=record(), headers=bearer(token)).is_success
    assert [r.quantity for r in spooled(gateway)] == ["pm25"]
