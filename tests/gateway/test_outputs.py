"""The gateway's outputs are found by URL scheme: forwarders in one registry, stores in theirs."""

from __future__ import annotations

import importlib
import json
import time
from pathlib import Path

import pytest
from fastapi import FastAPI, Request

from lokaalmeten.gateway import outputs
from lokaalmeten.gateway.outputs import OUTPUTS, open_output
from lokaalmeten.gateway.pipeline import Gateway
from lokaalmeten.gateway.sensor_community import SensorCommunityForwarder
from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.services.ports import free_port
from lokaalmeten.store import SQLiteStore, StoreError
from tests.gateway.harness import RunningGateway, publish, publisher, settings_for
from tests.helpers import served_in_thread, wait_until


def test_each_registered_output_names_a_module_that_opens_it() -> None:
    for kind, module in OUTPUTS.items():
        assert callable(importlib.import_module(module).open_output), kind


def test_a_forwarder_url_opens_the_forwarder_and_any_other_a_store(tmp_path: Path) -> None:
    forwarder = open_output("sensorcommunity+https://api.sensor.community/v1/push/?nodes=k1")
    assert isinstance(forwarder, SensorCommunityForwarder)
    forwarder.close()
    store = open_output(f"sqlite:///{tmp_path / 'lm.db'}")
    assert isinstance(store, SQLiteStore)
    store.close()


def test_an_unknown_output_is_the_stores_clear_error() -> None:
    with pytest.raises(StoreError, match="unknown store"):
        open_output("carrierpigeon+https://example.org/coop")
    with pytest.raises(StoreError, match="write sensorcommunity\\+https://"):
        open_output("sensorcommunity+ftp://api.sensor.community/?nodes=k1")


def test_no_output_is_chosen_by_an_if_chain_again() -> None:
    for source in (Path(outputs.__file__), Path(outputs.__file__).with_name("pipeline.py")):
        assert '"sensorcommunity+' not in source.read_text()


@pytest.mark.mosquitto
def test_a_forwarders_options_reach_its_writer_process(
    tmp_path: Path, shared_mosquitto: Mosquitto
) -> None:
    """Each store is written from a process of its own, opened there from its URL: the URL
    as configured, not the store's name (which leaves out the kits to forward, a password)."""
    posts: list[dict[str, str]] = []
    receiver = FastAPI()

    @receiver.post("/push")
    async def push(request: Request) -> dict[str, str]:
        posts.append(
            {"sensor": request.headers["X-Sensor"], "body": (await request.body()).decode()}
        )
        return {}

    port = free_port()
    forwarder = f"sensorcommunity+http://127.0.0.1:{port}/push?nodes=kit-7"
    settings = settings_for(
        shared_mosquitto, tmp_path, extra_stores=[forwarder], client_id="forwarder-test"
    )
    assert settings.writer_processes
    with served_in_thread(receiver, port):
        running = RunningGateway(Gateway(settings))
        try:
            client = publisher(shared_mosquitto, "forwarder-test-kit")
            moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            doc = {"v": 1, "node": "kit-7", "seq": 1, "time": moment}
            doc |= {"values": {"pm25": 4.5}, "sensors": {"pm25": "SDS011"}}
            publish(client, "lokaalmeten/kit-7/readings", json.dumps(doc).encode())
            wait_until(lambda: bool(posts), 20, "the forwarder's POST")
            client.disconnect()
        finally:
            running.stop()
    assert posts[0]["sensor"] == "kit-7" and '"P2"' in posts[0]["body"]
