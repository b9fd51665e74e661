"""One record of the lokaalmeten protocol, version 1, as the JSON bytes a kit publishes.

    from kit import record
    payload = record.build("esp32-0a1b2c", 42, 1764324000, {"pm25": 7.5},
                           sensors={"pm25": "SDS011"}, fw="0.1.0", rssi=-67)
    online = record.status("online", "0.1.0", {"queued": 0}, {"lat": 52.09, "lon": 5.12})

Every record carries ``uptime`` (boot number, milliseconds since that boot) when given: the
gateway flags readings made while a sensor still warms up after the kit started.
``time`` None means the clock is not synced: the record says so with ``"time": null``
rather than inventing a time, and carries the flag ``clock_unsynced``. Once NTP answered,
``backdate`` writes the real time into such a record before it is sent::

    payload = record.build("esp32-0a1b2c", 43, None, {"pm25": 7.5}, uptime=(7, 61000))
    record.backdate(payload, {7: 1764323940000})   # ... "time": "2025-11-28T10:00:01Z" ...

See docs/protocol.md.
"""

import json

from kit.clock import iso_utc

PROTOCOL_VERSION = 1


UNDATED = b'"time": null'


def build(node, seq, time, values, sensors=None, fw=None, rssi=None, flags=None, uptime=None):
    if time is None and uptime is not None:
        flags = ["clock_unsynced"] + list(flags or ())
    doc = {
        "v": PROTOCOL_VERSION,
        "node": node,
        "seq": seq,
        "time": None if time is None else iso_utc(time),
        "values": 0,  # placeholder, written below
    }
    if sensors:
        doc["sensors"] = sensors
    if fw is not None:
        doc["fw"] = fw
    if rssi is not None:
        doc["rssi"] = rssi
    if flags:
        doc["flags"] = flags
    if uptime is not None:
        doc["uptime"] = [uptime[0], uptime[1]]
    # Two decimals is finer than any of our sensors resolves. Written as text: round() keeps
    # binary noise digits (8.300000000000001, 21.399999) that json.dumps would publish.
    parts = []
    for name in sorted(values):  # a stable order, whatever the port's dict order
        parts.append('"%s": %.2f' % (name, values[name]))
    text = json.dumps(doc)
    return text.replace('"values": 0', '"values": {' + ", ".join(parts) + "}", 1).encode()


def status(state, fw=None, counters=None, location=None):
    """The retained status message: state 'online' or 'offline', counters, public location."""
    doc = {"v": PROTOCOL_VERSION, "state": state}
    if fw is not None:
        doc["fw"] = fw
    if counters:
        doc["counters"] = counters
    if location:
        doc["location"] = location
    return json.dumps(doc).encode()
