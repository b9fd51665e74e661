"""A storm of signals at a running (or starting) gateway: gone within 5 s every time, and
every reading the broker acknowledged to the publisher is stored afterwards.

Once a gateway sent one SIGTERM stayed up three minutes, until the next MQTT message came.
Kits publish (QoS 1) all along; the gateway is started again after each storm on the same
spool, store and client id, as a service manager would; a last one drains what the broker
kept. A reading acknowledged before its spool commit would be missing at the end.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from lokaalmeten.services.mosquitto import Mosquitto
from lokaalmeten.services.processes import stop_all
from tests.gateway.harness import Stream, gateway_process, identities
from tests.helpers import STORM_EXITS, Storm, in_lanes, signal_storm, wait_until

pytestmark = pytest.mark.mosquitto

ROUNDS = 50
LANES = 4  # gateways at once, each with its own broker, spool and store


def _lane(lane: int, rounds: int, folder: Path) -> list[Storm]:
    chance = random.Random(1300 + lane)
    broker = Mosquitto.start(folder / "mosquitto")
    storms = []
    try:
        # The gateway's session must exist before the kits publish: the broker keeps
        # messages for a subscriber it knows, not for one that never came.
        first = gateway_process(broker, folder)
        log = folder / "gateway.log"
        wait_until(lambda: "subscribed to" in log.read_text(), 20, "the gateway to subscribe")
        stop_all([first])
        stream = Stream(broker, rate=150, client_id=f"storm-kits-{lane}")
        stream.start()
        for _ in range(rounds):
            gateway = gateway_process(broker, folder)
            # From "still importing" through "connected, receiving": about 0.6 s to start.
            storms.append(signal_storm(gateway, chance, chance.uniform(0, 1.2)))
        stream.stop()
        stream.wait_all_acked(30)
        expected = stream.expected()
        drain = gateway_process(broker, folder)
        try:
            wait_until(
                lambda: set(identities(folder / "lm.db")) >= expected,
                30,
                f"lane {lane}: every acknowledged reading in the store",
            )
        finally:
            stop_all([drain])
    finally:
        broker.stop()
    found = identities(folder / "lm.db")
    assert len(found) == len(set(found))  # exactly once
    assert expected <= set(found) <= stream.published()
    assert len(expected) > 1000
    return storms


def test_signal_storms_stop_the_gateway_within_5_s_and_lose_nothing(tmp_path: Path) -> None:
    if Mosquitto.find() is None:
        from tests.conftest import _unavailable

        _unavailable("mosquitto", "apt-get install mosquitto")
    per_lane = [ROUNDS // LANES + (lane < ROUNDS % LANES) for lane in range(LANES)]
    storms = in_lanes(LANES, lambda lane: _lane(lane, per_lane[lane], tmp_path / f"lane{lane}"))
    assert len(storms) == ROUNDS
    slow = [s for s in storms if s.took > 5]
    assert not slow, slow
    assert {s.returncode for s in storms} <= STORM_EXITS, storms
    print(f"gateway storms: {ROUNDS}, slowest exit {max(s.took for s in storms):.2f} s")
