"""What the server says of a kit is what its status says: a kit that publishes its
retained status, then drops off without a word, is offline in /v1/nodes and SensorThings
within its keep-alive, and the location its own configuration reports appears rounded."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lokaalmeten.gateway.directory import Directory, Edit
from lokaalmeten.gateway.pipeline import Gateway
from lokaalmeten.protocol.topics import readings_topic
from lokaalmeten.readings import iso_utc
from lokaalmeten.server.app import create_app
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.settings import ServerSettings
from tests.gateway.harness import RunningGateway, publish, settings_for
from tests.gateway.test_kit_status import (
    BROKER_CHECKS_EVERY,
    KEEPALIVE,
    go_silent,
    kit,
    online,
    say,
)
from tests.helpers import record, wait_until

pytestmark = pytest.mark.mosquitto


def nodes(client: TestClient) -> dict[str, dict[str, Any]]:
    response = client.get("/v1/nodes")
    assert response.status_code == 200, response.text
    return {node["node"]: node for node in response.json()["value"]}


def thing(client: TestClient, node: str) -> dict[str, Any]:
    response = client.get(f"/v1.1/Things('{node}')?$expand=Locations")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_a_silent_kit_is_offline_within_its_keep_alive_and_its_own_place_is_rounded(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    settings = settings_for(mosquitto, tmp_path)
    running = RunningGateway(Gateway(settings))
    server = ServerSettings(store=settings.store, registry=settings.registry, rate_limit=0)
    try:
        client = kit(mosquitto, "kit-1")
        # The owner typed the exact coordinates and ticked "exact" in the kit's portal; the
        # operator has not confirmed that consent, so they leave the server rounded.
        say(client, "kit-1", online(52.091234, 5.121987, exact=True))
        siting = Directory(Path(settings.registry))  # as `places set --outdoor --height 3.5`
        siting.edit("kit-1", Edit(indoor=False, height_m=3.5))
        siting.close()
        now = iso_utc(int(time.time()) - 5)
        publish(client, readings_topic("kit-1"), record("kit-1", 1, now, pm25=8.5))
        with TestClient(create_app(server)) as api:
            wait_until(lambda: "kit-1" in nodes(api), 10, "kit-1's reading to be served")
            wait_until(lambda: nodes(api)["kit-1"]["online"], 10, "kit-1's online status")
            shown = nodes(api)["kit-1"]
            assert shown["location"] == {
                "latitude": 52.091,
                "longitude": 5.122,
                "exactness": "rounded-3dp",
            }
            assert shown["firmware"] == "0.1.0" and shown["status_since"] is not None
            assert (shown["indoor"], shown["height_m"]) == (False, 3.5)
            assert thing(api, "kit-1")["properties"]["online"] is True
            location = thing(api, "kit-1")["Locations"][0]["location"]
            assert location["coordinates"] == [5.122, 52.091]

            sock = go_silent(client)
            went = time.monotonic()
            try:
                limit = 1.5 * KEEPALIVE + BROKER_CHECKS_EVERY + 1.0
                wait_until(lambda: not nodes(api)["kit-1"]["online"], limit, "kit-1 offline")
                assert time.monotonic() - went <= limit
                # Its last reading is seconds old: only the Last Will can have told.
                assert thing(api, "kit-1")["properties"]["online"] is False
            finally:
                sock.close()
    finally:
        running.stop()
