"""One simulated kit under the unix port: simulated sensors, the firmware's record and MQTT.

    micropython simkit.py node=sim-1 host=127.0.0.1 port=1883 interval=5 cycles=10 seed=1

Prints one JSON line per event on stdout, for ``lokaalmeten simulate`` to read. A record
that could not be published is kept and sent again after reconnecting.
"""

import json
import sys
import time

from kit import clock, record, topics
from kit.mqtt import MQTTClient, MQTTError
from sim.sensors import SimulatedAirKit

FIRMWARE_VERSION = "0.1.0-sim"


def _options(argv):
    options = {"host": "127.0.0.1", "port": "1883", "interval": "5", "cycles": "0", "seed": "1"}
    for arg in argv:
        key, _, value = arg.partition("=")
        options[key] = value
    if "node" not in options:
        raise SystemExit("simkit: node=NAME is required")
    return options


def _emit(event, **fields):
    fields["event"] = event
    print(json.dumps(fields))


def _connect(client, node):
    delay = 0.5
    while True:
        try:
            client.connect()
            client.publish(topics.status(node), record.status("online", FIRMWARE_VERSION), True, 1)
            return
        except MQTTError as exc:
            _emit("broker_unreachable", node=node, error=str(exc), retry_in=delay)
            time.sleep(delay)
            delay = min(delay * 2, 10)


def main():
    options = _options(sys.argv[1:])
    node = options["node"]
    interval = float(options["interval"])
    cycles = int(options["cycles"])
    sensors = SimulatedAirKit(int(options["seed"]))
    client = MQTTClient(node, options["host"], int(options["port"]), keepalive=60)
    client.set_last_will(topics.status(node), record.status("offline"), retain=True, qos=1)
    _connect(client, node)
    seq = 0
    next_at = time.time()
    while cycles == 0 or seq < cycles:
        seq += 1
        values = sensors.read()
        when = clock.unix_time() if clock.synced() else None
        payload = record.build(node, seq, when, values, sensors.sensors, FIRMWARE_VERSION, -60)
        while True:
            try:
                client.publish(topics.readings(node), payload, qos=1)
                break
            except MQTTError as exc:
                _emit("publish_failed", node=node, seq=seq, error=str(exc))
                _connect(client, node)
        _emit("published", node=node, seq=seq, time=when, values=json.loads(payload)["values"])
        next_at += interval
        pause = next_at - time.time()
        if pause > 0 and (cycles == 0 or seq < cycles):
            time.sleep(pause)
    client.publish(topics.status(node), record.status("offline", FIRMWARE_VERSION), True, 1)
    client.disconnect()
    _emit("done", node=node, published=seq)


main()
