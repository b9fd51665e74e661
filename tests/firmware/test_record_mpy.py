"""The firmware's records, built in the real MicroPython interpreter, follow the protocol."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import jsonschema
import pytest

from lokaalmeten.protocol import topics
from lokaalmeten.protocol.record import parse_record
from lokaalmeten.protocol.schema import load_record_schema
from tests.firmware.mpy import run_micropython

pytestmark = pytest.mark.micropython

BUILD_RECORDS = """
from kit import record
print(record.build("esp32-0a1b2c", 1, 1795824000, {"pm25": 7.456, "temperature": -3.0},
                   {"pm25": "SDS011", "temperature": "BME280"}, "0.1.0", -67).decode())
print(record.build("esp32-0a1b2c", 2, None, {"humidity": 81.2}).decode())
print(record.build("esp32-0a1b2c", 3, 1795824000, {"noise_laeq": 55.5}, flags=["clipped"]).decode())
print(record.status("online", "0.1.0", {"dropped": 0}).decode())
"""


def test_firmware_records_validate_against_the_schema(micropython: str, tmp_path: Path) -> None:
    lines = run_micropython(micropython, BUILD_RECORDS, tmp_path).splitlines()
    records = [json.loads(line) for line in lines[:3]]
    validator = jsonschema.Draft7Validator(load_record_schema())
    for doc in records:
        assert list(validator.iter_errors(doc)) == [], doc
    assert records[0]["time"] == "2026-11-28T00:00:00Z"
    assert records[0]["values"] == {"pm25": 7.46, "temperature": -3.0}
    assert records[1]["time"] is None
    assert json.loads(lines[3]) == {
        "v": 1,
        "state": "online",
        "fw": "0.1.0",
        "counters": {"dropped": 0},
    }
    # And the gateway's parser takes what the firmware makes.
    parsed = parse_record(lines[0].encode(), "esp32-0a1b2c", 1795824000)
    assert [(r.quantity, r.value, r.sensor) for r in parsed.readings] == [
        ("pm25", 7.46, "SDS011"),
        ("temperature", -3.0, "BME280"),
    ]


def test_firmware_topics_match_the_gateway_topics(micropython: str, tmp_path: Path) -> None:
    out = run_micropython(
        micropython,
        "from kit import topics\n"
        "print(topics.readings('kit-1')); print(topics.status('kit-1'));"
        " print(topics.command('kit-1'))\n",
        tmp_path,
    )
    assert out.split() == [
        topics.readings_topic("kit-1"),
        topics.status_topic("kit-1"),
        topics.command_topic("kit-1"),
    ]


def test_clock_formats_utc_and_detects_an_unset_clock(micropython: str, tmp_path: Path) -> None:
    out = run_micropython(
        micropython,
        "from kit import clock\n"
        "print(clock.iso_utc(0)); print(clock.iso_utc(1795824000)); print(clock.synced())\n",
        tmp_path,
    )
    assert out.split() == ["1970-01-01T00:00:00Z", "2026-11-28T00:00:00Z", "True"]


CONNECT_AND_PUBLISH = """
from kit.mqtt import MQTTClient
c = MQTTClient("kit-1", "127.0.0.1", {port}, user="kit-1", password="s3cret", keepalive=60)
c.set_last_will("lokaalmeten/kit-1/status", b"off", retain=True, qos=1)
print(c.connect())
c.publish("t/1", b"hello", qos=1)
c.disconnect()
print("done")
"""


def test_mqtt_client_sends_exactly_the_packets_mqtt_311_specifies(
    micropython: str, tmp_path: Path
) -> None:
    """A scripted broker on loopback records the bytes and answers CONNACK and PUBACK."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    received: list[bytes] = []

    def broker() -> None:
        conn, _ = listener.accept()
        with conn:
            received.append(read_packet(conn))
            conn.sendall(b"\x20\x02\x01\x00")  # CONNACK, session present
            publish = read_packet(conn)
            received.append(publish)
            conn.sendall(b"\x40\x02" + publish[-7:-5])  # PUBACK with the packet id
            received.append(read_packet(conn))

    thread = threading.Thread(target=broker, daemon=True)
    thread.start()
    out = run_micropython(micropython, CONNECT_AND_PUBLISH.format(port=port), tmp_path)
    thread.join(5)
    listener.close()
    assert out.split() == ["True", "done"]
    connect, publish, disconnect = received
    assert connect == (
        b"\x10\x3f"  # CONNECT, remaining length 10 + 53 = 63
        b"\x00\x04MQTT\x04"  # protocol name and level 4 (3.1.1)
        b"\xec"  # user, password, will retain, will QoS 1, will flag; clean session off
        b"\x00\x3c"  # keepalive 60 s
        b"\x00\x05kit-1"
        b"\x00\x18lokaalmeten/kit-1/status\x00\x03off"
        b"\x00\x05kit-1\x00\x06s3cret"
    )
    assert publish == b"\x32\x0c\x00\x03t/1\x00\x01hello"  # QoS 1, packet id 1
    assert disconnect == b"\xe0\x00"


def read_packet(conn: socket.socket) -> bytes:
    header = conn.recv(1)
    length_bytes = b""
    length = shift = 0
    while True:
        byte = conn.recv(1)
        length_bytes += byte
        length |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            break
    body = b""
    while len(body) < length:
        body += conn.recv(length - len(body))
    return header + length_bytes + body
