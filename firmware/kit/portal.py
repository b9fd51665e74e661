"""The set-up portal: a small web form served by the kit itself, no external assets.

The link opens it on the kit's access point (``http://192.168.4.1/``) when no Wi-Fi is set
up or reachable; ``step`` answers at most one waiting request and never blocks the loop::

    portal = Portal(kit, "192.168.4.1", 80)
    portal.step(now_ms)      # from the main loop

``GET /`` shows the settings form with the latest readings and the kit's status (queue depth,
last publish, problems); ``POST /`` checks the submitted settings with ``kit.config`` and
either saves them and restarts the kit, or answers 400 with a message naming the field and
leaves the stored configuration as it was. ``GET /status.json`` gives the same status as
JSON. Passwords are never shown; an empty password field keeps the stored one. Phones probe
``/generate_204`` and similar to detect a captive portal: they get a redirect to the form.
"""

import json
import socket

from micropython import const

from kit import clock
from kit.config import validate
from kit.errors import KitError
from kit.sensors import REGISTRY

_REQUEST_MAX = const(2048)  # the form posts well under 1 KB
_BUSY_MS = const(120000)

_TEXT = (
    ("node", "Node id (empty: esp32-<MAC>)"),
    ("wifi_ssid", "Wi-Fi network"),
    ("wifi_password", "Wi-Fi password"),
    ("gateway_host", "Gateway (MQTT broker) host"),
    ("gateway_port", "Gateway port"),
    ("mqtt_user", "MQTT user (empty: the node id)"),
    ("mqtt_password", "MQTT password"),
    ("latitude", "Latitude"),
    ("longitude", "Longitude"),
    ("interval_s", "Measurement interval (s)"),
)
_SECRET = ("wifi_password", "mqtt_password")
_NUMBERS = ("gateway_port", "latitude", "longitude", "interval_s")


def _escape(text):
    return (
        str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace('"', "&quot;")
    )


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
    return out.decode()


def parse_form(body):
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


def form_to_config(fields, current):
    """The configuration the form asks for, built on ``current``; raises KitError naming a field."""
    doc = dict(current)
    for key, _label in _TEXT:
        value = fields.get(key, "").strip()
        if key in _SECRET and not value:
            continue  # empty: keep the stored password
        if key in _NUMBERS:
            if not value:
                doc[key] = None if key in ("latitude", "longitude") else doc[key]
                continue
            try:
                value = _number(value)
            except ValueError:
                raise KitError("%r must be a number, got %r" % (key, value))
        doc[key] = value
    doc["location_exact"] = fields.get("location_exact") == "on"
    table = []
    for number, line in enumerate(fields.get("sensors", "").split("\n")):
        words = line.split()
        if not words:
            continue
        spec = {"type": words[0]}
        for word in words[1:]:
            key, _, value = word.partition("=")
            try:
                spec[key] = _number(value)
            except ValueError:
                raise KitError("sensors, line %d: %r needs key=number" % (number + 1, word))
        table.append(spec)
    doc["sensors"] = table
    offsets = {}
    for word in fields.get("calibration", "").replace(",", " ").split():
        key, _, value = word.partition("=")
        try:
            offsets[key] = float(value)
        except ValueError:
            raise KitError("calibration: %r needs quantity=offset, e.g. temperature=-1.5" % word)
    doc["calibration"] = offsets
    return validate(doc)


class Portal:
    def __init__(self, kit, address, port, dns_port=0):
        self.kit = kit
        self.port = port
        self.dns = None
        if dns_port:
            from kit.captive import CaptiveDNS

            try:
                self.dns = CaptiveDNS(address, dns_port)
            except OSError as exc:
                # The form still works at the address; phones just do not open it by themselves.
                kit.event("portal_dns_failed", {"error": str(exc)})
        self.buf = bytearray(_REQUEST_MAX)  # one request at a time, in one buffer
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(socket.getaddrinfo(address, port)[0][-1])
            sock.listen(2)
            sock.setblocking(False)
        except OSError:
            sock.close()  # or the next boot finds the port taken
            raise
        self.sock = sock
        self.last_request = None
        self.requests = 0

    def busy(self, now):
        return self.last_request is not None and now - self.last_request < _BUSY_MS

    def close(self):
        self.sock.close()
        if self.dns:
            self.dns.close()

    def step(self, now):
        if self.dns:
            self.dns.step()
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return  # nobody waiting
        self.last_request = now
        self.requests += 1
        try:
            conn.settimeout(2)
            self._serve(conn)
        except OSError:
            pass  # the browser went away; nothing to keep
        finally:
            conn.close()

    def _read(self, conn):
        mv = memoryview(self.buf)
        n = 0
        head_end = -1
        length = 0
        while n < _REQUEST_MAX:
            # recv, not readinto: a stream's readinto waits until the buffer is full.
            chunk = conn.recv(_REQUEST_MAX - n)
            if not chunk:
                break
            mv[n : n + len(chunk)] = chunk
            n += len(chunk)
            if head_end < 0:
                head_end = bytes(mv[:n]).find(b"\r\n\r\n")
                if head_end >= 0:
                    head = bytes(mv[:head_end]).lower()
                    at = head.find(b"content-length:")
                    if at >= 0:
                        length = int(head[at + 15 :].split(b"\r\n")[0].strip())
            if head_end >= 0 and n >= head_end + 4 + length:
                break
        if head_end < 0:
            return None, None, None
        text = bytes(mv[:n]).decode()
        line = text[: text.find("\r\n")].split()
        if len(line) < 2:
            return None, None, None
        return line[0], line[1], text[head_end + 4 : head_end + 4 + length]

    def _serve(self, conn):
        method, path, body = self._read(conn)
        if method is None:
            return self._send(conn, "400 Bad Request", "text/plain", "bad request")
        path = path.split("?")[0]
        if path == "/status.json":
            return self._send(conn, "200 OK", "application/json", json.dumps(self.status()))
        if path == "/" and method == "POST":
            try:
                doc = form_to_config(parse_form(body), self.kit.conf)
                self.kit.apply_config(doc)
            except KitError as exc:
                return self.page(conn, "400 Bad Request", str(exc), parse_form(body))
            except OSError as exc:
                return self.page(
                    conn, "500 Internal Server Error", "could not save the settings: %s" % exc
                )
            return self.page(conn, "200 OK", saved=True)
        if path == "/" and method == "GET":
            return self.page(conn, "200 OK")
        if path in ("/generate_204", "/hotspot-detect.html", "/connecttest.txt", "/fwlink"):
            conn.write(b"HTTP/1.0 302 Found\r\nLocation: /\r\nContent-Length: 0\r\n\r\n")
            return None
        return self._send(conn, "404 Not Found", "text/plain", "not found")

    def _send(self, conn, status, kind, body):
        body = body.encode()
        conn.write(
            (
                "HTTP/1.0 %s\r\nContent-Type: %s; charset=utf-8\r\nContent-Length: %d\r\n"
                "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
                % (status, kind, len(body))
            ).encode()
        )
        conn.write(body)

    def status(self):
        kit = self.kit
        link = kit.link
        last = link.last_publish
        return {
            "node": kit.node,
            "fw": kit.fw,
            "wifi": link.sta.isconnected(),
            "broker": link.mqtt_up,
            "last_publish": clock.iso_utc(last) if last else None,
            "counters": kit.counters(),
            "latest": kit.sampler.latest,
            "problems": kit.problems(),
        }

    def page(self, conn, status, error=None, submitted=None, saved=False):
        """Write the form page piece by piece: no big string to find room for in the heap."""
        conn.write(
            (
                "HTTP/1.0 %s\r\nContent-Type: text/html; charset=utf-8\r\n"
                "Cache-Control: no-store\r\nConnection: close\r\n\r\n" % status
            ).encode()
        )
        conf = self.kit.conf
        parts = _Writer(conn)
        parts.extend([
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width,initial-scale=1'>"
            "<title>lokaalmeten kit</title><style>body{font-family:sans-serif;max-width:40em;"
            "margin:auto;padding:1em}label{display:block;margin-top:.6em}input,textarea"
            "{width:100%;box-sizing:border-box}.err{background:#fdd;padding:.5em}"
            ".ok{background:#dfd;padding:.5em}td{padding:0 .5em}</style></head><body>",
            "<h1>lokaalmeten kit %s</h1>" % _escape(self.kit.node),
        ])
        if saved:
            parts.append("<p class='ok'>Saved. The kit restarts with the new settings.</p>")
        if error:
            parts.append("<p class='err'>Not saved: %s. The old settings still apply.</p>"
                         % _escape(error))
        status = self.status()
        counters = status["counters"]
        parts.append(
            "<h2>Status</h2><p>Wi-Fi: %s, broker: %s, last publish: %s<br>"
            "waiting to be sent: %d, sent: %d, dropped (outbox full): %d</p>"
            % (
                "connected" if status["wifi"] else "not connected",
                "connected" if status["broker"] else "not connected",
                status["last_publish"] or "never",
                counters["queued"],
                counters["published"],
                counters["dropped"],
            )
        )
        for problem in status["problems"]:
            parts.append("<p class='err'>%s</p>" % _escape(problem))
        if status["latest"]:
            parts.append("<h2>Latest readings</h2><table>")
            for quantity, value in status["latest"].items():
                parts.append("<tr><td>%s</td><td>%.2f</td></tr>" % (quantity, value))
            parts.append("</table>")
        parts.append("<h2>Settings</h2><form method='post' action='/'>")
        shown = submitted or {}
        for key, label in _TEXT:
            if key in _SECRET:
                value = ""
                kind = "password"
            else:
                value = shown.get(key, conf[key] if conf[key] is not None else "")
                kind = "text"
            parts.append(
                "<label>%s<input name='%s' type='%s' value=\"%s\"></label>"
                % (_escape(label), key, kind, _escape(value))
            )
        exact = shown.get("location_exact") == "on" if submitted else conf["location_exact"]
        parts.append(
            "<label><input type='checkbox' name='location_exact'%s style='width:auto'> "
            "publish the exact location (otherwise rounded to about 100 m)</label>"
            % (" checked" if exact else "")
        )
        parts.append(
            "<label>Sensors, one per line: type and pins, e.g. <code>sds011 uart=2 rx=16 tx=17"
            "</code>; types: %s<textarea name='sensors' rows='4'>%s</textarea></label>"
            % (", ".join(REGISTRY), _escape(shown.get("sensors", sensors_text(conf["sensors"]))))
        )
        calibration = " ".join("%s=%s" % item for item in conf["calibration"].items())
        parts.append(
            "<label>Calibration offsets, e.g. <code>temperature=-1.5</code>"
            "<input name='calibration' value=\"%s\"></label>"
            % _escape(shown.get("calibration", calibration))
        )
        parts.append("<p><button type='submit'>Save and restart</button></p></form>"
                     "</body></html>")


class _Writer:
    """Sends each piece of a page as soon as it is made."""

    def __init__(self, conn):
        self.conn = conn

    def append(self, text):
        self.conn.write(text.encode())

    def extend(self, texts):
        for text in texts:
            self.append(text)
