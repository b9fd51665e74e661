"""``POST /lorawan/ttn``: The Things Stack's webhook uplinks in their documented shape,
stored exactly, once, and refused with the reason when they are not usable."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lokaalmeten.cli import app
from lokaalmeten.gateway.http_ingest import create_ingest_app
from lokaalmeten.gateway.pipeline import Gateway
from lokaalmeten.gateway.quarantine import Quarantine
from lokaalmeten.gateway.replay import decode_again
from lokaalmeten.protocol.lora_frame import FIELDS
from tests.gateway.harness import stored
from tests.gateway.test_http_ingest import make_gateway, spooled

SECRET = "s3cret-for-the-buurt-application"
OTHER = "another-applications-secret-0000"
APPLICATIONS = f"lokaalmeten-utrecht={SECRET},elders={OTHER}"
RECEIVED = "2026-12-02T10:05:01.208119380Z"
RECEIVED_S = 1796205901  # 2026-12-02T10:05:01Z


def frame(values: dict[str, float], age: int | None = None, seq: int | None = None) -> bytes:
    """A kit's frame, packed by the table (firmware/kit/lora_frame.py) for the test."""
    present, body = 0, b""
    given: dict[str, float | None] = {**values, "age": age, "seq": seq}
    for index, f in enumerate(FIELDS):
        value = given.get(f.name)
        if value is None:
            continue
        present |= 1 << index
        body += round(value * f.scale).to_bytes(f.size, "big", signed=f.signed)
    return bytes([1, present >> 8, present & 0xFF]) + body


def uplink(payload: bytes | None, **changes: Any) -> dict[str, Any]:
    """An uplink_message webhook body as The Things Stack documents it (TTN, eu1)."""
    doc: dict[str, Any] = {
        "end_device_ids": {
            "device_id": "lm-utrecht-007",
            "application_ids": {"application_id": "lokaalmeten-utrecht"},
            "dev_eui": "70B3D57ED0061A2B",
            "join_eui": "0000000000000000",
            "dev_addr": "260B1C4D",
        },
        "correlation_ids": ["as:up:01JE4W3K7QG8N5V2Z1XH6T9PMB"],
        "received_at": "2026-12-02T10:05:01.412358917Z",
        "uplink_message": {
            "session_key_id": "AZN0pQ2lB1c3d4e5f6g7hw==",
            "f_port": 1,
            "f_cnt": 1042,
            "rx_metadata": [
                {
                    "gateway_ids": {"gateway_id": "eui-b827ebfffe7a1c2d"},
                    "time": "2026-12-02T10:05:01.180733Z",
                    "rssi": -97,
                    "snr": 7.25,
                    "received_at": "2026-12-02T10:05:01.201447512Z",
                }
            ],
            "settings": {
                "data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 7}},
                "frequency": "868300000",
            },
            "received_at": RECEIVED,
            "consumed_airtime": "0.061696s",
            "network_ids": {"net_id": "000013", "tenant_id": "ttn", "cluster_id": "eu1"},
        },
    }
    if payload is not None:
        doc["uplink_message"]["frm_payload"] = base64.b64encode(payload).decode()
    for path, value in changes.items():
        target = doc
        *parents, last = path.split("__")
        for part in parents:
            target = target[part]
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return doc


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    return make_gateway(tmp_path, require_registration=False, lorawan_applications=APPLICATIONS)


@pytest.fixture
def client(gateway: Gateway) -> TestClient:
    return TestClient(create_ingest_app(gateway))


def post(client: TestClient, doc: object, secret: str | None = SECRET) -> Any:
    headers = {"X-Lokaalmeten-Secret": secret} if secret else {}
    return client.post("/lorawan/ttn", content=json.dumps(doc), headers=headers)


CLIMATE = {"pm25": 7.4, "pm10": 12.1, "temperature": -3.25, "humidity": 81.2, "pressure": 1012.6}


def test_an_uplink_is_stored_exactly_at_the_networks_time(
    gateway: Gateway, client: TestClient
) -> None:
    answer = post(client, uplink(frame(CLIMATE, seq=43)))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"stored": 5, "refused": []}
    got = {r.quantity: (r.node, r.time, r.value) for r in spooled(gateway)}
    assert got == {q: ("lm-utrecht-007", RECEIVED_S, v) for q, v in CLIMATE.items()}


def test_a_record_sent_late_is_dated_by_its_age(gateway: Gateway, client: TestClient) -> None:
    noise = {"noise_laeq": 54.37, "noise_lamax": 71.02, "noise_la90": 41.5}
    assert post(client, uplink(frame(noise, age=600))).status_code == 200
    assert {(r.quantity, r.time, r.value) for r in spooled(gateway)} == {
        (q, RECEIVED_S - 600, v) for q, v in noise.items()
    }


def test_a_decoded_payload_is_not_needed_nor_trusted(gateway: Gateway, client: TestClient) -> None:
    doc = uplink(frame({"co2": 612}), uplink_message__decoded_payload={"co2": 9999})
    assert post(client, doc).json()["stored"] == 1
    assert [(r.quantity, r.value) for r in spooled(gateway)] == [("co2", 612.0)]


def test_a_replayed_uplink_is_stored_once(
    gateway: Gateway, client: TestClient, tmp_path: Path
) -> None:
    doc = uplink(frame(CLIMATE, seq=43))
    for _ in range(3):  # the webhook, a retry, and the same uplink from the Storage Integration
        assert post(client, doc).status_code == 200
    assert len(spooled(gateway)) == 3 * len(CLIMATE)
    gateway.stores[0].write(spooled(gateway))
    kept = stored(tmp_path / "lm.db")
    assert sorted((r.quantity, r.time) for r in kept) == sorted((q, RECEIVED_S) for q in CLIMATE)


def test_events_without_a_frame_store_nothing(client: TestClient) -> None:
    join = copy.deepcopy(uplink(None))
    del join["uplink_message"]
    join["join_accept"] = {"session_key_id": "AZN0", "received_at": RECEIVED}
    for doc in (join, uplink(None), uplink(frame(CLIMATE), uplink_message__f_cnt=None)):
        answer = post(client, doc)
        assert answer.status_code == 200, answer.text
    assert post(client, uplink(None)).json() == {"stored": 0, "refused": []}


def test_the_secret_decides_which_application_may_post(client: TestClient) -> None:
    doc = uplink(frame(CLIMATE))
    assert post(client, doc, secret=None).status_code == 401
    assert post(client, doc, secret="wrong-secret-wrong-secret").status_code == 401
    assert post(client, doc, secret=OTHER).status_code == 403  # elders' secret, utrecht's data
    assert post(client, doc).status_code == 200


def test_the_endpoint_is_off_until_an_application_is_configured(tmp_path: Path) -> None:
    client = TestClient(create_ingest_app(make_gateway(tmp_path, require_registration=False)))
    answer = post(client, uplink(frame(CLIMATE)))
    assert answer.status_code == 404
    assert "LM_LORAWAN_APPLICATIONS" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("doc", "reason", "words"),
    [
        (uplink(b"\x02\x00\x00"), "bad_frame", "frame format 2"),
        (uplink(frame(CLIMATE)[:-1]), "bad_frame", "ends inside its field pressure"),
        (uplink(frame(CLIMATE), uplink_message__f_port=2), "f_port", "f_port 2"),
        (uplink(frame({"humidity": 130.0})), "out_of_range", "humidity=130.0"),
        (uplink(frame(CLIMATE), uplink_message__received_at="yesterday"), "schema", "RFC 3339"),
        ({"uplink_message": {}}, "schema", "device_id is missing"),
    ],
    ids=["format", "cut-off", "f_port", "out-of-range", "time", "no-device"],
)
def test_an_unusable_uplink_is_refused_with_its_reason_and_quarantined(
    gateway: Gateway, client: TestClient, doc: dict[str, Any], reason: str, words: str
) -> None:
    answer = post(client, doc)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["reason"] == reason
    assert words in answer.json()["error"]["message"]
    assert spooled(gateway) == []


def test_a_refused_uplink_replays_through_the_same_decoding(
    gateway: Gateway, client: TestClient
) -> None:
    post(client, uplink(frame(CLIMATE), uplink_message__f_port=2))
    quarantine = Quarantine(Path(gateway.settings.spool))
    entries = quarantine.entries()
    quarantine.close()
    assert [e.source for e in entries] == ["http:/lorawan/ttn"]
    checked = decode_again(gateway.validator, entries[0])
    assert checked.refusals and checked.refusals[0].reason == "f_port"


def test_an_unregistered_device_is_refused_where_registration_is_required(
    tmp_path: Path,
) -> None:
    gateway = make_gateway(tmp_path, lorawan_applications=APPLICATIONS)
    client = TestClient(create_ingest_app(gateway))
    answer = post(client, uplink(frame(CLIMATE)))
    assert answer.status_code == 422 and answer.json()["error"]["reason"] == "unknown_node"
    assert gateway.registry is not None
    gateway.registry.add("lm-utrecht-007")
    assert post(client, uplink(frame(CLIMATE))).json()["stored"] == 5


def test_a_device_mapped_in_the_node_directory_is_its_nodes_readings(
    tmp_path: Path,
) -> None:
    """A kit that got a LoRa radio keeps its node id (and its history): the operator maps
    the device to it; one node has one device."""
    gateway = make_gateway(tmp_path, lorawan_applications=APPLICATIONS)
    assert gateway.registry is not None
    gateway.registry.add("esp32-0a1b2c")  # registered as the kit it was; the device is not
    client = TestClient(create_ingest_app(gateway))
    gateway.directory.cache_s = 0  # a change made by the command counts at once, not in 5 s
    registry = ["--registry", str(tmp_path / "registry.db")]
    runner = CliRunner()
    mapped = runner.invoke(
        app, ["lorawan", "map", "lokaalmeten-utrecht", "lm-utrecht-007", "esp32-0a1b2c", *registry]
    )
    assert mapped.exit_code == 0, mapped.output
    listed = runner.invoke(app, ["lorawan", "devices", *registry]).output
    assert "lokaalmeten-utrecht/lm-utrecht-007  ->  esp32-0a1b2c" in listed
    taken = runner.invoke(
        app, ["lorawan", "map", "lokaalmeten-utrecht", "lm-utrecht-008", "esp32-0a1b2c", *registry]
    )
    assert (
        taken.exit_code == 2
        and "esp32-0a1b2c is the node of lokaalmeten-utrecht/lm-utrecht-007" in taken.output
    )
    assert post(client, uplink(frame(CLIMATE))).json()["stored"] == 5
    assert {r.node for r in spooled(gateway)} == {"esp32-0a1b2c"}
    gone = runner.invoke(
        app, ["lorawan", "unmap", "lokaalmeten-utrecht", "lm-utrecht-007", *registry]
    )
    assert gone.exit_code == 0 and "no longer esp32-0a1b2c" in gone.output
    answer = post(client, uplink(frame(CLIMATE)))
    assert answer.status_code == 422 and answer.json()["error"]["reason"] == "unknown_node"
