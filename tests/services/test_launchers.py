"""The server launchers the demo, tests and benchmarks share, against the real programs."""

from __future__ import annotations

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from lokaalmeten.services.influxdb import InfluxDB
from lokaalmeten.services.mosquitto import Mosquitto
from tests.helpers import wait_until


@pytest.mark.influxdb
def test_influxdb_accepts_line_protocol_and_answers_influxql(influxdb: InfluxDB) -> None:
    httpx.post(f"{influxdb.url}/query", data={"q": "CREATE DATABASE launcher"}).raise_for_status()
    write = httpx.post(
        f"{influxdb.url}/write",
        params={"db": "launcher", "precision": "s"},
        content=b"air,node=kit-1 pm25=7.5 1795824000\n",
    )
    assert write.status_code == 204, write.text
    answer = httpx.get(
        f"{influxdb.url}/query", params={"db": "launcher", "q": "SELECT pm25 FROM air"}
    ).json()
    assert answer["results"][0]["series"][0]["values"] == [["2026-11-28T00:00:00Z", 7.5]]


@pytest.mark.influxdb
def test_influxdb_runs_with_the_query_guardrails(influxdb: InfluxDB) -> None:
    config = (influxdb.folder / "influxdb.conf").read_text()
    assert "max-select-buckets = 100000" in config
    assert 'query-timeout = "60s"' in config


@pytest.mark.mosquitto
def test_mosquitto_keeps_a_persistent_session_across_a_restart(mosquitto: Mosquitto) -> None:
    received: list[bytes] = []

    def subscriber() -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="keeper", clean_session=False)
        client.on_message = lambda c, u, msg: received.append(bytes(msg.payload))
        client.connect("127.0.0.1", mosquitto.port)
        return client

    first = subscriber()
    first.subscribe("kept/#", qos=1)
    first.loop_start()
    wait_until(lambda: first.is_connected(), 5, "the subscriber")
    first.disconnect()
    first.loop_stop()

    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sender")
    publisher.connect("127.0.0.1", mosquitto.port)
    publisher.loop_start()
    publisher.publish("kept/1", b"queued while away", qos=1).wait_for_publish(5)
    publisher.disconnect()
    publisher.loop_stop()

    mosquitto.restart()  # the queued message must survive in the broker's persistence file

    second = subscriber()
    second.loop_start()
    wait_until(lambda: received == [b"queued while away"], 10, "the queued message")
    second.disconnect()
    second.loop_stop()
