"""The Sensor.Community forwarder speaks airRohr's per-sensor format, proven by a real receiver."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from lokaalmeten.gateway.outputs import open_output
from lokaalmeten.gateway.pipeline import Gateway
from lokaalmeten.gateway.sensor_community import open_forwarder, requests_for
from lokaalmeten.readings import Reading
from lokaalmeten.services.ports import free_port
from lokaalmeten.settings import GatewaySettings
from lokaalmeten.store import SQLiteStore, StoreError


def test_one_post_per_sensor_with_airrohr_names_and_units() -> None:
    t = 1795824000
    readings = [
        Reading("esp32-0a1b2c", "pm10", t, 12.3, "SDS011"),
        Reading("esp32-0a1b2c", "pm25", t, 8.1, "SDS011"),
        Reading("esp32-0a1b2c", "pressure", t, 1006.5325, "BME280"),
        Reading("esp32-0a1b2c", "temperature", t, 21.4, "BME280"),
        Reading("esp32-0a1b2c", "humidity", t, 55.0, None),  # unknown sensor: not forwarded
    ]
    posts = requests_for(readings)
    assert [(h["X-Sensor"], h["X-PIN"]) for h, _ in posts] == [
        ("esp32-0a1b2c", "1"),
        ("esp32-0a1b2c", "11"),
    ]
    assert json.loads(posts[0][1]) == {
        "software_version": "lokaalmeten-gateway",
        "sensordatavalues": [
            {"value_type": "P1", "value": "12.30"},
            {"value_type": "P2", "value": "8.10"},
        ],
    }
    assert json.loads(posts[1][1])["sensordatavalues"] == [
        {"value_type": "pressure", "value": "100653.25"},
        {"value_type": "temperature", "value": "21.40"},
    ]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sensorcommunity+ftp://x/", "sensorcommunity+https"),
        ("sensorcommunity+https://api.sensor.community/v1/push-sensor-data/", "name the kits"),
        ("sensorcommunity+https://h/?nodes=a&max_age=soon", "max_age"),
    ],
)
def test_bad_forwarder_urls(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=re.escape(message)):
        open_forwarder(url)


def test_forwarded_posts_are_accepted_by_an_airrohr_receiver(tmp_path: Path) -> None:
    """Our own gateway's airRohr endpoint (open mode) over a real socket stands in for the API."""
    receiver = Gateway(
        GatewaySettings(
            broker="mqtt://127.0.0.1:1",
            store=f"sqlite:///{tmp_path / 'rx.db'}",
            spool=str(tmp_path / "rx-spool.db"),
            registry=str(tmp_path / "rx-registry.db"),
            require_registration=False,
            ingest_host="127.0.0.1",
            ingest_port=free_port(),
        )
    )
    receiver._start_http()
    try:
        forwarder = open_output(
            f"sensorcommunity+http://127.0.0.1:{receiver.ingest_port}/airrohr"
            "?nodes=esp32-0a1b2c&max_age=600"
        )
        now = int(time.time())
        result = forwarder.write(
            [
                Reading("esp32-0a1b2c", "pm25", now, 8.1, "SDS011"),
                Reading("esp32-0a1b2c", "pressure", now, 1006.53, "BME280"),
                Reading("esp32-0a1b2c", "pm25", now - 3600, 9.0, "SDS011"),  # too old
                Reading("kit-private", "pm25", now, 5.0, "SDS011"),  # not opted in
            ]
        )
        assert (result.received, result.stored) == (4, 2)
        spooled = [r for _, r in receiver.spool.take(receiver.stores[0].url, 10)]
        assert sorted((r.node, r.quantity, round(r.value, 2)) for r in spooled) == [
            ("esp32-0a1b2c", "pm25", 8.1),
            ("esp32-0a1b2c", "pressure", 1006.53),
        ]
    finally:
        receiver._http_server.should_exit = True


def test_unreachable_api_is_a_passing_error_for_the_writer_to_retry() -> None:
    forwarder = open_forwarder(f"sensorcommunity+http://127.0.0.1:{free_port()}/?nodes=k1")
    with pytest.raises(StoreError, match="cannot reach"):
        forwarder.write([Reading("k1", "pm25", int(time.time()), 1.0, "SDS011")])


def test_other_urls_open_ordinary_stores(tmp_path: Path) -> None:
    assert isinstance(open_output(f"sqlite:///{tmp_path / 'a.db'}"), SQLiteStore)


def test_the_forwarders_names_and_factors_are_the_protocol_table_read_backwards() -> None:
    # One table (lokaalmeten/protocol/sensor_community.py) says which name and unit each
    # quantity has at Sensor.Community; the forwarder must not keep its own copy of it.
    from lokaalmeten.gateway import sensor_community
    from lokaalmeten.protocol.sensor_community import VALUE_TYPES as TABLE

    for quantity, (name, factor) in sensor_community.VALUE_TYPES.items():
        assert TABLE[name].quantity == quantity and TABLE[name].sensor is None
        assert TABLE[name].scale * factor == pytest.approx(1.0)
    assert sensor_community.VALUE_TYPES["pressure"] == ("pressure", 100.0)
    source = Path(sensor_community.__file__).read_text()
    copied = [name for name in TABLE if f'"{name}"' in source]
    assert copied == [], f"value types copied into gateway/sensor_community.py: {copied}"
