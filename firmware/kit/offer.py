"""Is a firmware release the gateway offers one to take? Loaded only when an offer arrives.

A kit with a release key (``release_key``, docs/fleet.md) subscribes to its own retained
``<prefix>/<node>/update``; the gateway puts an offer there::

    {"v": 1, "version": "0.3.0", "port": 8081, "path": "/fleet/0.3.0/", "serial": 7}

``judge`` says whether to take it and after how long: never the version that runs, never one
that was rolled back, a refused one only when offered anew (another serial), and one that
had to wait (the gateway paused, unreachable) again after a while, at most
``MAX_ATTEMPTS`` times per offer. ``take`` leaves the offer in ``offer.json`` for the next
boot, which downloads it before the kit starts measuring (kit/update.py).
"""

import json

import slots

RETRY_MS = 600000  # times the attempts made so far
MAX_ATTEMPTS = 5


def _name_ok(text, first_ok):
    if not isinstance(text, str) or not 0 < len(text) <= 64 or not first_ok(text[0]):
        return False
    return all(c.isalpha() or c.isdigit() or c in ".+-_/" for c in text)


def parse(payload):
    """The offer in a message, or None (withdrawn, or not an offer this firmware knows)."""
    if not payload:
        return None
    try:
        doc = json.loads(payload)
        version, path = doc["version"], doc["path"]
        port, serial = int(doc["port"]), int(doc.get("serial", 0))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    # The version names a folder and the path goes into a request line: nothing else in them.
    if doc.get("v") != 1 or not 0 < port < 65536 or "/" in str(version):
        return None
    if not _name_ok(version, lambda c: c.isalpha() or c.isdigit()):
        return None
    if not _name_ok(path, lambda c: c == "/") or ".." in path or not path.endswith("/"):
        return None
    return {"version": version, "port": port, "path": path, "serial": serial}


def judge(payload, running):
    """(offer, wait in ms) for an offer to take, None to leave it."""
    offer = parse(payload)
    if offer is None or offer["version"] == running:
        return None
    last = slots.noted()
    if last is not None and last[1] == offer["version"]:
        state, serial, attempts = last[0], last[2], last[3]
        if state == "rolled_back":
            return None
        if serial == offer["serial"] and state in ("refused", "waiting", "offered", "downloading"):
            if state == "refused" or attempts >= MAX_ATTEMPTS:
                return None
            # An update cut off (power, watchdog) goes on at once; one that had to wait,
            # later each time.
            return offer, attempts * RETRY_MS if state == "waiting" else 0
    return offer, 0


def take(offer):
    """Keep the offer for the next boot, and say so in the status."""
    with open(slots.OFFER, "w") as f:
        json.dump(offer, f)
    last = slots.noted()
    attempts = 0
    if last is not None and last[1] == offer["version"] and last[2] == offer["serial"]:
        attempts = last[3]
    slots.note("offered", offer["version"], offer["serial"], attempts)
