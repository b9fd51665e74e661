# MicroPython tests of the link and the portal on their own (firmware/kit/link.py,
# firmware/kit/portal.py): they are given what they use, with no Kit, and neither needs the
# runtime. The host below is the link's protocol as its docstring lists it; the portal it
# opens is the real one.
import json
import os
import socket
import sys

from mpy_test_support import drop_flash, fresh_flash

from kit import config
from kit.link import Link
from kit.outbox import Outbox
from kit.portal import Portal
from kit.timebase import FastTime

START = 1795820400


class Host:
    def __init__(self, conf):
        self.conf = conf
        self.events = []
        self.saved = []

    def event(self, kind, info=None):
        self.events.append(kind)

    def clock_synced(self):
        self.events.append("clock_synced")

    def backdate(self, payload):
        return payload

    def status_record(self):
        return b'{"v": 1, "state": "online"}'

    def open_portal(self, address, port, dns_port):
        return Portal(
            self.conf,
            "kit-link",
            address,
            port,
            dns_port,
            self.event,
            self.saved.append,
            lambda: {"node": "kit-link", "wifi": False},
        )


def _conf():
    port = 20000 + (os.urandom(1)[0] << 5) + os.urandom(1)[0] % 32
    return config.validate({"node": "kit-link", "portal_port": port, "portal_dns": False})


def test_the_link_runs_without_the_runtime_and_opens_the_portal_through_its_host():
    flash = fresh_flash()
    try:
        sys.modules.pop("kit.runtime", None)
        conf = _conf()
        host = Host(conf)
        tb = FastTime(START)
        link = Link(conf, "kit-link", "test", Outbox("outbox"), tb, host, 100, False)
        link.step(tb.now_ms())  # no Wi-Fi configured: the portal opens, for good
        assert link.portal is not None and "portal_open" in host.events, host.events
        assert link.next_due(tb.now_ms()) == tb.now_ms() + 50  # polled while open
        assert link.published == 0 and link.rssi() is None
        link.close()
        assert link.portal is None and host.events[-1] == "portal_closed", host.events
        assert "kit.runtime" not in sys.modules  # the link never reached back into it
        assert "kit.portal" not in sys.modules  # close unloaded the portal's code
    finally:
        drop_flash(flash)


def test_the_portal_answers_status_from_the_callable_it_was_given():
    conf = _conf()
    host = Host(conf)
    portal = Portal(
        conf,
        "kit-link",
        "127.0.0.1",
        conf["portal_port"],
        0,
        host.event,
        host.saved.append,
        lambda: {"node": "kit-link", "queued": 7},
    )
    try:
        client = socket.socket()
        client.connect(socket.getaddrinfo("127.0.0.1", conf["portal_port"])[0][-1])
        client.send(b"GET /status.json HTTP/1.0\r\n\r\n")
        portal.step(0)
        answer = b""
        while True:
            chunk = client.recv(512)
            if not chunk:
                break
            answer += chunk
        client.close()
    finally:
        portal.close()
    assert answer.startswith(b"HTTP/1.0 200 OK"), answer
    body = answer[answer.find(b"\r\n\r\n") + 4 :]
    assert json.loads(body) == {"node": "kit-link", "queued": 7}, answer
