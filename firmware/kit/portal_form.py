"""The set-up portal's form: the posted fields checked all at once, into a configuration.

``check`` finds every problem in one pass, so that a neighbour sees them all together, and
names each by the field it belongs to and a message number in the portal's text tables
(``kit/portal_en.py``, ``kit/portal_nl.py``), so that the page can say it in their language::

    doc, problems = check(parse("wifi_ssid=Thuis&wifi_password=kort"), current)
    problems    # [("wifi_password", E_PASSWORD, ())]; doc is None while there are problems

The limits are the configuration's own (``kit.config.FIELDS``); what only the firmware's
validation knows (a sensor's keys and pins, two sensors on one bus) comes from
``kit.config.validate`` as its message, under the sensors field.
"""

from micropython import const

from kit.config import FIELDS, check_node, validate
from kit.errors import KitError
from kit.quantities import QUANTITIES

# The form's fields in the order shown; a field's label is its position in the text table.
# The first two make the simple form, the rest is folded under "advanced".
KEYS = (
    "wifi_ssid",
    "wifi_password",
    "node",
    "gateway_host",
    "gateway_port",
    "mqtt_user",
    "mqtt_password",
    "latitude",
    "longitude",
    "interval_s",
    "sensors",
    "calibration",
    "location_exact",
)
SIMPLE = const(2)
TEXT_FIELDS = const(10)  # KEYS[:10] are single-line inputs
SECRETS = ("wifi_password", "mqtt_password")

# Message numbers in the text tables (after the field labels).
E_REQUIRED = const(13)
E_NUMBER = const(14)
E_WHOLE = const(15)
E_RANGE = const(16)
E_TOO_LONG = const(17)
E_PASSWORD = const(18)
E_PAIR = const(19)
E_NODE = const(20)
E_LINE = const(21)
E_KEY_NUMBER = const(22)
E_CALIBRATION = const(23)
E_QUANTITY = const(24)
E_DETAIL = const(25)


def _unquote(text):
    """Decode one application/x-www-form-urlencoded value."""
    raw = text.replace("+", " ").encode()
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i] == 37 and i + 2 < len(raw):  # '%'
            try:
                out.append(int(raw[i + 1 : i + 3], 16))
                i += 3
                continue
            except ValueError:
                pass
        out.append(raw[i])
        i += 1
    try:
        return out.decode()
    except UnicodeError:  # not UTF-8 after all: read it as Latin-1 rather than fail
        return "".join(chr(b) for b in out)


def parse(body):
    fields = {}
    for pair in body.split("&"):
        if pair:
            key, _, value = pair.partition("=")
            fields[_unquote(key)] = _unquote(value)
    return fields


def _number(text):
    try:
        return int(text, 0) if "." not in text else float(text)
    except ValueError:
        return float(text)  # "1e3"; raises ValueError for words


def sensors_text(table):
    lines = []
    for spec in table:
        parts = [spec["type"]]
        for key, value in spec.items():
            if key != "type":
                parts.append("%s=%s" % (key, value))
        lines.append(" ".join(parts))
    return "\n".join(lines)


def calibration_text(offsets):
    return " ".join("%s=%s" % item for item in offsets.items())


def _detail(exc, prefix):
    """The firmware's message without its ``sensors[0]``-style prefix."""
    text = str(exc)
    if text.startswith(prefix):
        text = text[len(prefix) :].lstrip(":. ")
    return text


def check(fields, current):
    """Return ``(config, [])`` for a good form, or ``(None, problems)`` naming every problem.

    A problem is ``(key, message number, arguments)``; key None: the whole configuration.
    An empty password field keeps the stored password.
    """
    problems: list = []
    doc = dict(current)
    for key in KEYS[:TEXT_FIELDS]:
        value = fields.get(key, "")
        if key in SECRETS:
            if not value:
                continue  # keep the stored one
        else:
            value = value.strip()
        kind, low, high = FIELDS[key][1:]
        if kind is str:
            if len(value) > high:
                problems.append((key, E_TOO_LONG, (high,)))
            doc[key] = value
            continue
        if not value:
            if key in ("latitude", "longitude"):
                doc[key] = None
            continue  # an empty number keeps the stored one
        try:
            number = _number(value)
        except ValueError:
            problems.append((key, E_NUMBER, ()))
            continue
        if kind is int and number != int(number):
            problems.append((key, E_WHOLE, ()))
        elif not low <= number <= high:
            problems.append((key, E_RANGE, (low, high)))
        else:
            doc[key] = kind(number)
    if not doc["wifi_ssid"]:
        problems.append(("wifi_ssid", E_REQUIRED, ()))
    password = fields.get("wifi_password", "")
    if password and len(password) < 8:
        problems.append(("wifi_password", E_PASSWORD, ()))
    named = [p[0] for p in problems]
    if doc["node"] and "node" not in named and not check_node(doc["node"]):
        problems.append(("node", E_NODE, ()))
    if (
        "latitude" not in named
        and "longitude" not in named
        and (doc["latitude"] is None) != (doc["longitude"] is None)
    ):
        problems.append(("latitude", E_PAIR, ()))
    doc["location_exact"] = fields.get("location_exact") == "on"
    doc["sensors"] = _sensors(fields.get("sensors", ""), problems)
    doc["calibration"] = _calibration(fields.get("calibration", ""), problems)
    if problems:
        return None, problems
    try:
        return validate(doc), problems
    except KitError as exc:  # what only the whole configuration shows
        problems.append((None, E_DETAIL, (str(exc),)))
        return None, problems


def _sensors(text, problems):
    table = []
    lines = []
    bad = False
    for number, line in enumerate(text.split("\n")):
        words = line.split()
        if not words:
            continue
        spec = {"type": words[0]}
        for word in words[1:]:
            key, _, value = word.partition("=")
            try:
                spec[key] = _number(value)
            except ValueError:
                problems.append(("sensors", E_KEY_NUMBER, (number + 1, word)))
                bad = True
                break
        else:
            try:
                validate({"sensors": [spec]})
            except KitError as exc:
                problems.append(("sensors", E_LINE, (number + 1, _detail(exc, "sensors[0]"))))
                bad = True
        table.append(spec)
        lines.append(number + 1)
    if not bad and len(table) > 1:
        try:
            validate({"sensors": table})
        except KitError as exc:  # two sensors on one bus, too many sensors
            text = str(exc)
            if text.startswith("sensors[") and "]" in text:
                index = int(text[8 : text.find("]")])
                text = _detail(exc, "sensors[%d]" % index)
                problems.append(("sensors", E_LINE, (lines[index], text)))
            else:
                problems.append(("sensors", E_DETAIL, (text,)))
    return table


def _calibration(text, problems):
    offsets = {}
    for word in text.replace(",", " ").split():
        key, _, value = word.partition("=")
        if key not in QUANTITIES:
            problems.append(("calibration", E_QUANTITY, (key,)))
            continue
        try:
            offsets[key] = float(value)
            validate({"calibration": {key: offsets[key]}})
        except ValueError:
            problems.append(("calibration", E_CALIBRATION, (word,)))
        except KitError as exc:
            problems.append(("calibration", E_DETAIL, (_detail(exc, "'calibration'."),)))
    return offsets
