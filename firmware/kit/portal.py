"""The set-up portal: a small web form served by the kit itself, in Dutch or English.

The link opens it on the kit's access point (``http://192.168.4.1/``) when no Wi-Fi is set
up or reachable; ``step`` answers at most one waiting request and never blocks the loop::

    portal = Portal(conf, node, "192.168.4.1", 80, 53, event, apply, status)
    portal.step(now_ms)      # from the main loop

It is given what it uses: the stored settings (``conf``, the form's starting point) and the
node id, where to listen (DNS on ``dns_port`` answers every name with the portal, 0: none),
and three callables of the runtime (``kit.runtime.Kit.open_portal`` passes its own, with
``kit_status`` below for the status):
``event(kind, info)`` reports a problem, ``apply(doc)`` saves checked settings and restarts
the kit (raises KitError or OSError), ``status()`` is the dict of ``GET /status.json``.

``GET /`` shows the form: the Wi-Fi network and its password first, everything else folded
under "advanced", then the kit's status (connections, queue, latest readings, problems).
The language is the browser's (``Accept-Language``: Dutch or English) unless ``?lang=nl``
or ``?lang=en`` chose one; the form carries the choice along. ``POST /`` checks the form
(``kit.portal_form``): good settings are saved and the kit restarts; otherwise the page
comes back with status 400, every problem listed at the top and beside its field, what was
typed still filled in (passwords too), and the stored configuration as it was. Stored
passwords are never shown; an empty password field keeps the stored one.
``GET /status.json`` gives the status as JSON; captive-portal probes (``/generate_204`` …)
are sent to the form.

Memory: the page is written to the socket piece by piece, and only the language in use is
loaded (``kit/portal_en.py`` or ``kit/portal_nl.py``); ``close`` unloads it again, with the
form, the DNS, ``kit.config`` and this module (the runtime needs none of them).
"""

import json
import socket
import sys

from micropython import const

from kit import clock
from kit.errors import KitError
from kit.portal_form import (
    E_DETAIL,
    KEYS,
    SECRETS,
    SIMPLE,
    TEXT_FIELDS,
    calibration_text,
    check,
    parse,
    sensors_text,
)
from kit.sensors import REGISTRY

_REQUEST_MAX = const(3072)  # a browser's headers and the whole form, with room to spare
_RECV_MAX = const(512)
_BUSY_MS = const(120000)
LANGUAGES = ("nl", "en")

# Page texts in kit/portal_en.py and kit/portal_nl.py (after the form's labels and errors).
_T_TITLE = const(26)
_T_INTRO = const(27)
_T_ADVANCED = const(28)
_T_ADVANCED_HINT = const(29)
_T_SAVE = const(30)
_T_SAVED = const(31)
_T_NOT_SAVED = const(32)
_T_SAVE_FAILED = const(33)
_T_KEEP_PASSWORD = const(34)
_T_SHOW_PASSWORD = const(35)
_T_STATUS = const(36)
_T_LINK = const(37)
_T_CONNECTED = const(38)
_T_NOT_CONNECTED = const(39)
_T_NEVER = const(40)
_T_COUNTERS = const(41)
_T_LATEST = const(42)
_T_SENSORS_HINT = const(43)
_T_CALIBRATION_HINT = const(44)

_STYLE = (
    "<style>body{font-family:sans-serif;max-width:40em;margin:auto;padding:1em;"
    "line-height:1.4}label{display:block;margin-top:.8em}input,textarea{width:100%;"
    "box-sizing:border-box;font-size:1em;padding:.3em}input[type=checkbox]{width:auto}"
    ".err{background:#fdd;padding:.5em}.ok{background:#dfd;padding:.5em}"
    ".fe{color:#a00;margin:.2em 0}[aria-invalid=true]{border:2px solid #a00}"
    "summary{margin-top:1em;cursor:pointer;font-weight:bold}button{font-size:1.1em;"
    "padding:.5em 1em;margin-top:1em}.lang{text-align:right}td{padding:0 .5em}</style>"
)
_SHOW = (
    "<label><input type='checkbox' onclick=\"var p=document.getElementById("
    "'f-wifi_password');p.type=this.checked?'text':'password'\"> %s</label>"
)


def _escape(text):
    return (
        str(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def texts(lang):
    """The text table of ``lang``; the other language's module is unloaded first."""
    other = "kit.portal_" + ("en" if lang == "nl" else "nl")
    if other in sys.modules:
        _forget(other)
    if lang == "nl":
        from kit.portal_nl import TEXT
    else:
        from kit.portal_en import TEXT
    return TEXT


def _forget(name):
    sys.modules.pop(name, None)
    parent = sys.modules.get("kit")
    short = name[4:]
    if parent is not None and hasattr(parent, short):
        delattr(parent, short)


def language(choice, accept):
    """``choice`` ("nl"/"en") if given, else the browser's preference; English otherwise."""
    if choice in LANGUAGES:
        return choice
    best = "en"
    best_q = 0.0
    for item in accept.split(","):
        tag, _, params = item.partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        if q > best_q:  # the first of equal preferences wins
            best = primary
            best_q = q
    return best


def message(text, problem):
    """A problem from ``portal_form.check`` in words, with its field's label; HTML."""
    key, number, args = problem
    args = tuple(_escape(a) if isinstance(a, str) else a for a in args)
    said = text[number] % args
    if key is None:
        return said
    return "%s: %s" % (text[KEYS.index(key)], said)


def kit_status(kit):
    """What ``GET /status.json`` and the page show of a running kit (``kit.runtime.Kit``).

    Here, not in kit.status, so that its code is in the heap only while the portal is open.
    """
    from kit import status

    link = kit.link
    last = link.last_publish
    return {
        "node": kit.node,
        "fw": kit.fw,
        "wifi": link.sta.isconnected(),
        "broker": link.mqtt_up,
        "last_publish": clock.iso_utc(last) if last else None,
        "counters": status.counters(kit),
        "latest": kit.sampler.latest,
        "problems": status.problems(kit),
    }


class Portal:
    def __init__(self, conf, node, address, port, dns_port, event, apply, status):
        self.conf = conf
        self.node = node
        self.apply = apply
        self.status = status
        self.port = port
        self.dns = None
        if dns_port:
            from kit.captive import CaptiveDNS

            try:
                self.dns = CaptiveDNS(address, dns_port)
            except OSError as exc:
                # The form still works at the address; phones just do not open it by themselves.
                event("portal_dns_failed", {"error": str(exc)})
        self.buf = bytearray(_REQUEST_MAX)  # one request at a time, in one buffer
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(socket.getaddrinfo(address, port)[0][-1])
            sock.listen(2)
            sock.setblocking(False)
        except OSError:
            sock.close()  # or the next boot finds the port taken
            if self.dns:
                self.dns.close()  # and the next try finds DNS taken
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
        for lang in LANGUAGES:
            _forget("kit.portal_" + lang)
        for name in ("kit.portal_form", "kit.captive", "kit.config", "kit.portal"):
            _forget(name)

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
        """``(method, path, head, body)``; method None: no request; body None: too large."""
        mv = memoryview(self.buf)
        n = 0
        head_end = -1
        length = 0
        while n < _REQUEST_MAX:
            # recv, not readinto: a stream's readinto waits until the buffer is full. In small
            # pieces: recv(n) takes n bytes from the heap first, in one block, which a kit
            # that measured for a while may no longer have (a MemoryError once, at 96 KiB).
            chunk = conn.recv(min(_RECV_MAX, _REQUEST_MAX - n))
            if not chunk:
                break
            mv[n : n + len(chunk)] = chunk
            n += len(chunk)
            chunk = None
            if head_end < 0:
                head_end = self.buf.find(b"\r\n\r\n", 0, n)
                if head_end >= 0:
                    head = bytes(mv[:head_end]).lower()
                    at = head.find(b"content-length:")
                    if at >= 0:
                        try:
                            length = int(head[at + 15 :].split(b"\r\n")[0].strip())
                        except ValueError:
                            return None, None, None, None
            if head_end >= 0 and n >= head_end + 4 + length:
                break
        if head_end < 0:
            return None, None, None, None
        text = bytes(mv[:n]).decode()
        line = text[: text.find("\r\n")].split()
        if len(line) < 2:
            return None, None, None, None
        body = text[head_end + 4 : head_end + 4 + length]
        if len(body) < length:
            return line[0], line[1], text[:head_end], None  # cut off: never act on part of it
        return line[0], line[1], text[:head_end], body

    def _serve(self, conn):
        method, path, head, body = self._read(conn)
        if method is None:
            return self._send(conn, "400 Bad Request", "text/plain", "bad request")
        path, _, query = path.partition("?")
        choice = query[5:] if query.startswith("lang=") else ""
        at = head.lower().find("\naccept-language:")
        accept = head[at + 17 :].split("\r\n")[0] if at >= 0 else ""
        if path == "/status.json":
            return self._send(conn, "200 OK", "application/json", json.dumps(self.status()))
        if path == "/" and method == "POST":
            if body is None:
                return self._send(conn, "413 Payload Too Large", "text/plain", "form too large")
            fields = parse(body)
            lang = language(fields.get("lang", choice), accept)
            doc, problems = check(fields, self.conf)
            if problems:
                return self.page(conn, "400 Bad Request", lang, problems, fields)
            try:
                self.apply(doc)
            except KitError as exc:  # checked above; kept for what only saving finds
                return self.page(
                    conn, "400 Bad Request", lang, [(None, E_DETAIL, (str(exc),))], fields
                )
            except OSError as exc:
                return self.page(
                    conn, "500 Internal Server Error", lang, None, fields, failure=str(exc)
                )
            return self.page(conn, "200 OK", lang, saved=True)
        if path == "/" and method == "GET":
            return self.page(conn, "200 OK", language(choice, accept))
        if path in ("/generate_204", "/hotspot-detect.html", "/connecttest.txt", "/fwlink"):
            conn.write(b"HTTP/1.0 302 Found\r\nLocation: /\r\nContent-Length: 0\r\n\r\n")
            return None
        return self._send(conn, "404 Not Found", "text/plain", "not found")

    def _send(self, conn, status, kind, body):
        body = body.encode()
        conn.write(
            "HTTP/1.0 %s\r\nContent-Type: %s; charset=utf-8\r\nContent-Length: %d\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n" % (status, kind, len(body))
        )
        conn.write(body)

    def page(self, conn, status, lang, problems=None, submitted=None, saved=False, failure=None):
        """Write the page piece by piece: no big string to find room for in the heap."""
        text = texts(lang)
        write = conn.write
        write(
            "HTTP/1.0 %s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Language: %s\r\n"
            "Vary: Accept-Language\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
            % (status, lang)
        )
        write(
            "<!DOCTYPE html><html lang='%s'><head><meta charset='utf-8'><meta name='viewport'"
            " content='width=device-width,initial-scale=1'><title>lokaalmeten</title>" % lang
        )
        write(_STYLE)
        write("</head><body><p class='lang'>")
        for code, name in (("nl", "Nederlands"), ("en", "English")):
            if code == lang:
                write("<b>%s</b> " % name)
            else:
                write(
                    "<a href='/?lang=%s' hreflang='%s' lang='%s'>%s</a> " % (code, code, code, name)
                )
        write("</p><h1>%s</h1>" % (text[_T_TITLE] % _escape(self.node)))
        if saved:
            write("<p class='ok' role='status'>%s</p>" % text[_T_SAVED])
        if failure:
            write("<p class='err' role='alert'>%s</p>" % (text[_T_SAVE_FAILED] % _escape(failure)))
        problems = problems or []
        if problems:
            write("<div class='err' id='errors' role='alert'><p>%s</p><ul>" % text[_T_NOT_SAVED])
            for problem in problems:
                target = problem[0] or "errors"
                write("<li><a href='#f-%s'>%s</a></li>" % (target, message(text, problem)))
            write("</ul></div>")
        elif not saved:
            write("<p>%s</p>" % text[_T_INTRO])
        state = self.status()
        self._form(write, text, lang, problems, submitted)
        self._status(write, text, state)
        write("</body></html>")

    def _form(self, write, text, lang, problems, submitted):
        conf = self.conf
        shown = submitted or {}
        wrong = [p[0] for p in problems]
        write("<form method='post' action='/'><input type='hidden' name='lang' value='%s'>" % lang)
        for index, key in enumerate(KEYS[:TEXT_FIELDS]):
            if index == SIMPLE:
                write(_SHOW % text[_T_SHOW_PASSWORD])
                advanced = [k for k in wrong if k not in KEYS[:SIMPLE]]
                write(
                    "<details%s><summary>%s</summary><p>%s</p>"
                    % (" open" if advanced else "", text[_T_ADVANCED], text[_T_ADVANCED_HINT])
                )
            extra = ""
            if key in SECRETS:
                kind = "password"
                value = shown.get(key, "")  # kept after an error; a stored one never shown
                if conf[key]:
                    extra = " placeholder='%s'" % _escape(text[_T_KEEP_PASSWORD])
            else:
                kind = "text"
                stored = conf[key]
                value = shown.get(key, "" if stored is None else stored)
            if key == "wifi_ssid":
                extra += " autocapitalize='none' autocorrect='off'"
            write(
                "<label for='f-%s'>%s</label><input id='f-%s' name='%s' type='%s' value=\"%s\"%s"
                % (key, text[index], key, key, kind, _escape(value), extra)
            )
            self._field_end(write, text, key, problems, "")
        index = KEYS.index("sensors")
        write(
            "<label for='f-sensors'>%s</label><small>%s</small><textarea id='f-sensors' "
            "name='sensors' rows='4'" % (text[index], text[_T_SENSORS_HINT] % ", ".join(REGISTRY))
        )
        self._field_end(
            write,
            text,
            "sensors",
            problems,
            _escape(shown.get("sensors", sensors_text(conf["sensors"]))) + "</textarea>",
        )
        write(
            "<label for='f-calibration'>%s</label><small>%s</small><input id='f-calibration' "
            "name='calibration' value=\"%s\""
            % (
                text[index + 1],
                text[_T_CALIBRATION_HINT],
                _escape(shown.get("calibration", calibration_text(conf["calibration"]))),
            )
        )
        self._field_end(write, text, "calibration", problems, "")
        exact = shown.get("location_exact") == "on" if submitted else conf["location_exact"]
        write(
            "<label><input type='checkbox' name='location_exact'%s> %s</label></details>"
            % (" checked" if exact else "", text[index + 2])
        )
        write("<p><button type='submit'>%s</button></p></form>" % text[_T_SAVE])

    def _field_end(self, write, text, key, problems, content):
        """Close a field's element; its problems, if any, beside it."""
        mine = [p for p in problems if p[0] == key]
        if not mine:
            write(">%s" % content)
            return
        write(
            " aria-invalid='true' aria-describedby='e-%s'>%s<p class='fe' id='e-%s'>"
            % (key, content, key)
        )
        for problem in mine:
            write(
                "%s "
                % (
                    text[problem[1]]
                    % tuple(_escape(a) if isinstance(a, str) else a for a in problem[2])
                )
            )
        write("</p>")

    def _status(self, write, text, state):
        yes = text[_T_CONNECTED]
        no = text[_T_NOT_CONNECTED]
        counters = state["counters"]
        write("<h2>%s</h2><p>" % text[_T_STATUS])
        write(
            text[_T_LINK]
            % (
                yes if state["wifi"] else no,
                yes if state["broker"] else no,
                state["last_publish"] or text[_T_NEVER],
            )
        )
        write("<br>")
        write(text[_T_COUNTERS] % (counters["queued"], counters["published"], counters["dropped"]))
        write("</p>")
        for problem in state["problems"]:
            write("<p class='err'>%s</p>" % _escape(problem))
        if state["latest"]:
            write("<h2>%s</h2><table>" % text[_T_LATEST])
            for quantity, value in state["latest"].items():
                write("<tr><td>%s</td><td>%.2f</td></tr>" % (quantity, value))
            write("</table>")
