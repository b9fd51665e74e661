"""Forwarding to openSenseMap: the kits whose owners chose it, in the node directory, to the
documented upload of several measurements.

openSenseMap cannot run here: a local HTTP server answers as its API documents
(https://docs.opensensemap.org/#api-Measurements-postNewMeasurements) and checks every
request against that contract: the box's token in ``Authorization``, a JSON array of at
most 2500 ``{sensor, value, createdAt}`` with the box's own sensor ids and RFC 3339 times.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from typer.testing import CliRunner

from lokaalmeten.cli import app
from lokaalmeten.gateway.directory import Directory
from lokaalmeten.gateway.opensensemap import OpenSenseMapForwarder, open_output
from lokaalmeten.gateway.opt_ins import OptIns
from lokaalmeten.gateway.pipeline import Gateway
from lokaalmeten.gateway.sensor_community import open_forwarder
from lokaalmeten.readings import FLAG_STUCK, Reading
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.services.ports import free_port
from lokaalmeten.store import StoreError
from tests.gateway.harness import RunningGateway, publish, publisher, settings_for
from tests.helpers import served_in_thread, wait_until

BOX = "5f0c1a2b3c4d5e6f7a8b9c0d"
TOKEN = "a3f9c1d2e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1"
SENSORS = {"pm25": "5f0c1a2b3c4d5e6f7a8b9c01", "pm10": "5f0c1a2b3c4d5e6f7a8b9c02"}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$")
NOW = int(time.time())


class OpenSenseMapStandIn:
    """openSenseMap's upload endpoint as documented, for one box; keeps what it saved."""

    def __init__(self) -> None:
        self.saved: list[dict[str, str]] = []
        self.requests = 0
        self.down = False
        self.app = FastAPI()
        self.app.post("/boxes/{box}/data")(self.upload)

    async def upload(self, box: str, request: Request) -> Response:
        self.requests += 1
        if self.down:
            return PlainTextResponse("Service Unavailable", status_code=503)
        if box != BOX:
            return JSONResponse({"code": "NotFound", "message": "Box not found"}, 404)
        if request.headers.get("authorization") != TOKEN:
            return JSONResponse(
                {"code": "Unauthorized", "message": "Box access token not valid!"}, 401
            )
        if request.headers.get("content-type") != "application/json":
            return JSONResponse({"code": "UnsupportedMediaType"}, 415)
        doc: Any = json.loads(await request.body())
        ok = (
            isinstance(doc, list)
            and 0 < len(doc) <= 2500
            and all(
                isinstance(m, dict)
                and set(m) == {"sensor", "value", "createdAt"}
                and m["sensor"] in SENSORS.values()
                and isinstance(m["value"], str)
                and float(m["value"]) == float(m["value"])
                and RFC3339.match(m["createdAt"])
                for m in doc
            )
        )
        if not ok:
            return JSONResponse({"code": "UnprocessableEntity", "message": "Invalid data"}, 422)
        self.saved.extend(doc)
        return PlainTextResponse("Measurements saved in box", status_code=201)


@pytest.fixture
def osem() -> Iterator[tuple[OpenSenseMapStandIn, str]]:
    stand_in = OpenSenseMapStandIn()
    port = free_port()
    with served_in_thread(stand_in.app, port):
        yield stand_in, f"http://127.0.0.1:{port}"


def _choose(registry: Path, node: str = "esp32-0a1b2c", **changes: Any) -> None:
    options: dict[str, Any] = {"box": BOX, "token": TOKEN, "sensors": SENSORS} | changes
    directory = Directory(registry)
    directory.forward(node, "opensensemap", options)
    directory.close()


def test_only_chosen_kits_mapped_quantities_and_unflagged_readings_go(
    tmp_path: Path, osem: tuple[OpenSenseMapStandIn, str]
) -> None:
    stand_in, base = osem
    registry = tmp_path / "registry.db"
    _choose(registry)
    forwarder = open_output(f"opensensemap+{base}/", registry)
    try:
        result = forwarder.write(
            [
                Reading("esp32-0a1b2c", "pm25", NOW - 120, 7.5, "SDS011"),
                Reading("esp32-0a1b2c", "pm10", NOW - 120, 12.25, "SDS011"),
                Reading("esp32-0a1b2c", "temperature", NOW - 120, 11.0, "BME280"),  # no sensor
                Reading("esp32-0a1b2c", "pm25", NOW - 60, 99.0, "SDS011", FLAG_STUCK),
                Reading("esp32-999999", "pm25", NOW - 120, 3.0, "SDS011"),  # not chosen
            ]
        )
    finally:
        forwarder.close()
    assert (result.received, result.stored) == (5, 2)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 120))
    assert stand_in.saved == [
        {"sensor": SENSORS["pm25"], "value": "7.5", "createdAt": created},
        {"sensor": SENSORS["pm10"], "value": "12.25", "createdAt": created},
    ]


def test_a_backlog_goes_in_uploads_of_at_most_2500(
    tmp_path: Path, osem: tuple[OpenSenseMapStandIn, str]
) -> None:
    stand_in, base = osem
    registry = tmp_path / "registry.db"
    _choose(registry)
    forwarder = open_output(f"opensensemap+{base}", registry)
    readings = [Reading("esp32-0a1b2c", "pm25", NOW - 60 * i, 5.0, "SDS011") for i in range(6000)]
    try:
        assert forwarder.write(readings).stored == 6000
    finally:
        forwarder.close()
    assert stand_in.requests == 3 and len(stand_in.saved) == 6000


def test_a_refusal_is_dropped_for_this_output_and_an_outage_waited_out(
    tmp_path: Path, osem: tuple[OpenSenseMapStandIn, str], caplog: pytest.LogCaptureFixture
) -> None:
    stand_in, base = osem
    registry = tmp_path / "registry.db"
    _choose(registry, token="an old token")
    forwarder = open_output(f"opensensemap+{base}", registry)
    assert isinstance(forwarder, OpenSenseMapForwarder)
    reading = Reading("esp32-0a1b2c", "pm25", NOW - 60, 5.0, "SDS011")
    try:
        assert forwarder.write([reading]).stored == 0
        assert "openSenseMap refused 1 measurements for box" in caplog.text
        assert "Box access token not valid" in caplog.text
        stand_in.down = True
        with pytest.raises(StoreError, match="openSenseMap answered 503"):
            forwarder.write([reading])
    finally:
        forwarder.close()
    unreachable = OpenSenseMapForwarder("http://127.0.0.1:1", OptIns(registry, "opensensemap"))
    try:
        with pytest.raises(StoreError, match="cannot reach openSenseMap"):
            unreachable.write([reading])
    finally:
        unreachable.close()


@pytest.mark.mosquitto
def test_an_owners_choice_through_the_gateway_from_the_command_line(
    tmp_path: Path, osem: tuple[OpenSenseMapStandIn, str], shared_mosquitto: Mosquitto
) -> None:
    stand_in, base = osem
    registry = tmp_path / "registry.db"
    runner = CliRunner()
    choose = [
        "forward",
        "add",
        "esp32-0a1b2c",
        "opensensemap",
        "--box",
        BOX,
        "--token",
        TOKEN,
        "--sensor",
        f"pm25={SENSORS['pm25']}",
        "--registry",
        str(registry),
    ]
    # The gateway made the registry; a command never does.
    assert "no registry" in runner.invoke(app, choose).output
    settings = settings_for(
        shared_mosquitto,
        tmp_path,
        extra_stores=[f"opensensemap+{base}/"],
        client_id="osem-test",
    )
    running = RunningGateway(Gateway(settings))
    kit = publisher(shared_mosquitto, "osem-test-kit")
    try:
        result = runner.invoke(app, choose)
        assert result.exit_code == 0, result.output
        assert "forwarded to opensensemap" in result.output
        listed = runner.invoke(app, ["forward", "list", "--registry", str(registry)]).output
        assert f"esp32-0a1b2c  opensensemap  box {BOX} (pm25)" in listed
        assert TOKEN not in listed
        for seq in range(1, 4):
            moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 300 + seq))
            doc = {"v": 1, "node": "esp32-0a1b2c", "seq": seq, "time": moment}
            doc |= {"values": {"pm25": 4.0 + seq, "pm10": 9.0}, "sensors": {"pm25": "SDS011"}}
            publish(kit, "lokaalmeten/esp32-0a1b2c/readings", json.dumps(doc).encode())
        wait_until(lambda: len(stand_in.saved) == 3, 30, "three PM2.5 values at openSenseMap")
        assert [m["value"] for m in stand_in.saved] == ["5", "6", "7"]
    finally:
        kit.disconnect()
        running.stop()
    removed = runner.invoke(
        app, ["forward", "remove", "esp32-0a1b2c", "opensensemap", "--registry", str(registry)]
    )
    assert removed.exit_code == 0 and "no longer forwarded" in removed.output
    again = runner.invoke(
        app, ["forward", "remove", "esp32-0a1b2c", "opensensemap", "--registry", str(registry)]
    )
    assert again.exit_code == 2 and "is not forwarded to opensensemap" in again.output
    assert "Traceback" not in again.output


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ([], "needs the senseBox id"),
        (["--box", "nope", "--token", "t", "--sensor", "pm25=" + "a" * 24], "is not a senseBox id"),
        (["--box", BOX, "--token", "t", "--sensor", "colour=" + "a" * 24], "no quantity 'colour'"),
        (["--box", BOX, "--token", "t", "--sensor", "pm25=12"], "is not a sensor id"),
    ],
)
def test_an_incomplete_choice_says_what_is_missing(
    tmp_path: Path, extra: list[str], says: str
) -> None:
    registry = tmp_path / "registry.db"
    Directory(registry).close()
    command = [
        "forward",
        "add",
        "esp32-0a1b2c",
        "opensensemap",
        *extra,
        "--registry",
        str(registry),
    ]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2 and says in result.output
    other = ["forward", "add", "esp32-0a1b2c", "pigeon", "--registry", str(registry)]
    assert "choose from opensensemap" in CliRunner().invoke(app, other).output


def test_sensor_community_forwards_the_kits_chosen_in_the_directory_too(tmp_path: Path) -> None:
    registry = tmp_path / "registry.db"
    directory = Directory(registry)
    directory.forward("esp32-bbbbbb", "sensorcommunity", {})
    directory.close()
    forwarder = open_forwarder(
        "sensorcommunity+http://127.0.0.1:1/push?nodes=esp32-aaaaaa", registry
    )
    try:
        assert forwarder.chosen is not None
        chosen = forwarder.kits | forwarder.chosen.current().keys()
        assert chosen == {"esp32-aaaaaa", "esp32-bbbbbb"}
    finally:
        forwarder.close()
    # Without a directory, the URL must name the kits.
    with pytest.raises(StoreError, match="name the kits"):
        open_forwarder("sensorcommunity+http://127.0.0.1:1/push")
