"""The kit's configuration: a JSON file on flash, defaults stated once here, checked at boot.

    from kit import config
    settings, problem = config.load()        # problem is None, or why the defaults were used
    config.save(dict(settings, interval_s=300))   # validated, written atomically

Every key and its meaning is in docs/kit.md. ``validate`` refuses unknown keys and wrong
values with a message that names the key; an invalid or unreadable file never stops the
kit: ``load`` returns the defaults and the reason, and the runtime opens the set-up portal.
"""

import json
import os

from kit.errors import KitError
from kit.quantities import QUANTITIES
from kit.sensors import BUS_KEYS, OPTION_KEYS, REGISTRY

PATH = "config.json"

# key: (default, kind, low, high); kind str/int/float/bool; for str low..high is the length.
FIELDS = {
    "node": ("", str, 0, 32),
    "wifi_ssid": ("", str, 0, 32),
    "wifi_password": ("", str, 0, 63),
    "wifi_timeout_s": (20, int, 5, 300),
    "gateway_host": ("", str, 0, 64),
    "gateway_port": (1883, int, 1, 65535),
    "mqtt_user": ("", str, 0, 64),
    "mqtt_password": ("", str, 0, 64),
    "topic_prefix": ("lokaalmeten", str, 1, 32),
    "latitude": (None, float, -90.0, 90.0),
    "longitude": (None, float, -180.0, 180.0),
    "location_exact": (False, bool, 0, 0),
    "interval_s": (145, float, 1, 86400),
    "sample_s": (5, float, 1, 600),
    "pm_warmup_s": (30, int, 0, 600),
    "pm_sample_s": (10, int, 1, 600),
    "outbox_records": (2048, int, 64, 100000),
    "portal_minutes": (10, int, 1, 1440),
    "portal_port": (80, int, 1, 65535),
    "portal_password": ("", str, 0, 63),
    "portal_dns": (True, bool, 0, 0),
    "ntp_host": ("pool.ntp.org", str, 1, 64),
    "watchdog_s": (60, int, 10, 600),
    "sensors": ([], list, 0, 12),
    "calibration": ({}, dict, 0, 16),
    "board": ("", str, 0, 24),
    "release_key": ("", str, 0, 64),
}

_NODE_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-_"


def defaults():
    doc = {}
    for key, field in FIELDS.items():
        value = field[0]
        if isinstance(value, list):
            value = []
        elif isinstance(value, dict):
            value = {}
        doc[key] = value
    return doc


def _number(where, value, kind, low, high):
    # JSON and web forms give ints where floats are meant and vice versa; bools are not numbers.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise KitError("%s must be a number, got %r" % (where, value))
    if kind is int and value != int(value):
        raise KitError("%s must be a whole number, got %r" % (where, value))
    value = kind(value)
    if not low <= value <= high:
        raise KitError("%s must be from %s to %s, got %s" % (where, low, high, value))
    return value


def check_node(node):
    if not 2 <= len(node) <= 32 or node[0] in "-_":
        return False
    for char in node:  # noqa: SIM110 - a loop, not all(...): no generator on the heap
        if char not in _NODE_CHARS:
            return False
    return True


def _sensors(specs, board):
    # The board tables (kit.pins) are needed only while a sensor table is checked: loaded
    # here and unloaded after, so that the portal and the main loop do not carry them.
    import sys

    from kit import pins

    try:
        check = pins.checker(board or pins.running_board())
        return [_sensor(i, spec, check) for i, spec in enumerate(specs)]
    finally:
        sys.modules.pop("kit.pins", None)
        package = sys.modules.get("kit")
        if package is not None and hasattr(package, "pins"):
            delattr(package, "pins")


def _sensor(index, spec, board):
    where = "sensors[%d]" % index
    if not isinstance(spec, dict):
        raise KitError('%s must be an object such as {"type": "sds011"}' % where)
    kind = spec.get("type")
    if kind not in REGISTRY:
        raise KitError("%s: unknown type %r; known: %s" % (where, kind, ", ".join(REGISTRY)))
    bus = REGISTRY[kind][2]
    clean = {"type": kind}
    allowed = ["type"]
    for name, default, low, high in BUS_KEYS[bus]:
        allowed.append(name)
        clean[name] = _number(where + "." + name, spec.get(name, default), int, low, high)
        if name != bus:
            board(where, name, clean[name])
    for name, rule in OPTION_KEYS.items():
        allowed.append(name)
        if name in spec:
            clean[name] = _number(where + "." + name, spec[name], rule[0], rule[1], rule[2])
    for name in spec:
        if name not in allowed:
            raise KitError("%s: unknown key %r for a %s" % (where, name, kind))
    return clean


def validate(doc):
    """Return a complete, checked copy of ``doc`` (missing keys get defaults) or raise KitError."""
    if not isinstance(doc, dict):
        raise KitError("the configuration must be a JSON object")
    for key in doc:
        if key not in FIELDS:
            raise KitError("unknown key %r" % (key,))
    clean = defaults()
    board = doc.get("board")
    if board is not None and not isinstance(board, str):
        raise KitError("'board' must be text, got %r" % (board,))
    for key, (default, kind, low, high) in FIELDS.items():
        if key not in doc or (doc[key] is None and default is None):
            continue
        value = doc[key]
        where = repr(key)
        if kind is str:
            if not isinstance(value, str):
                raise KitError("%s must be text, got %r" % (where, value))
            if not low <= len(value) <= high:
                raise KitError("%s must be %d to %d characters long" % (where, low, high))
        elif kind is bool:
            if not isinstance(value, bool):
                raise KitError("%s must be true or false, got %r" % (where, value))
        elif kind is list:
            if not isinstance(value, list) or len(value) > high:
                raise KitError("%s must be a list of at most %d sensors" % (where, high))
            value = _sensors(value, board)
        elif kind is dict:
            if not isinstance(value, dict):
                raise KitError("%s must be an object of quantity: offset" % where)
            offsets = {}
            for quantity, offset in value.items():
                if quantity not in QUANTITIES:
                    raise KitError("%s: unknown quantity %r" % (where, quantity))
                offsets[quantity] = _number(where + "." + quantity, offset, float, -1000, 1000)
            value = offsets
        else:
            value = _number(where, value, kind, low, high)
        clean[key] = value
    if clean["node"] and not check_node(clean["node"]):
        raise KitError(
            "'node' must be 2 to 32 characters from a-z, 0-9, - and _, starting with a letter"
            " or digit, got %r" % clean["node"]
        )
    key = clean["release_key"]
    if key and (len(key) != 64 or key.strip("0123456789abcdef")):
        raise KitError(
            "'release_key' must be the 64 hex digits 'lokaalmeten fleet release' prints, or empty"
        )
    if clean["wifi_password"] and len(clean["wifi_password"]) < 8:
        raise KitError("'wifi_password' must be empty (open network) or 8 to 63 characters")
    if clean["portal_password"] and len(clean["portal_password"]) < 8:
        raise KitError(
            "'portal_password' must be empty (open set-up network) or 8 to 63 characters"
        )
    if (clean["latitude"] is None) != (clean["longitude"] is None):
        raise KitError("'latitude' and 'longitude' go together: give both or neither")
    seen: dict = {}
    for index, spec in enumerate(clean["sensors"]):
        bus = REGISTRY[spec["type"]][2]
        if bus != "i2c":  # a UART or I2S bus carries exactly one sensor
            key = bus + str(spec[bus])
            if key in seen:
                raise KitError(
                    "sensors[%d]: %s %d is already used by sensors[%d]"
                    % (index, bus, spec[bus], seen[key])
                )
            seen[key] = index
    return clean


def load(path=PATH):
    """Return ``(config, problem)``: the checked file, or the defaults and why."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError:
        return defaults(), None if _missing(path) else "cannot read " + path
    except ValueError as exc:
        return defaults(), "%s is not valid JSON: %s" % (path, exc)
    try:
        return validate(doc), None
    except KitError as exc:
        return defaults(), "%s: %s" % (path, exc)


def _missing(path):
    try:
        os.stat(path)
        return False
    except OSError:
        return True


def save(doc, path=PATH):
    """Check ``doc`` and write it so that a power cut leaves either the old or the new file."""
    clean = validate(doc)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(clean, f)
    # rename replaces atomically on LittleFS and POSIX: never a half-written config.json.
    os.rename(tmp, path)
    return clean
