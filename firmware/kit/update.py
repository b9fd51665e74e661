"""Update mode: download the release offered (``offer.json``), check it, switch to it.

``main.py`` runs this instead of the kit when an offer waits, right after a reset, so that
the download has the heap to itself; it resets again when done, whatever the outcome::

    from kit import update
    offer = update.pending(running)      # offer.json, unless it is the running version's
    update.run(offer, running)           # then machine.reset()

Steps, each safe to cut the power in (the next boot finds the offer and goes on):

1. Wi-Fi, as the kit's settings say; the gateway's address is ``gateway_host``, its HTTP
   port the offer's.
2. ``manifest.json`` and ``manifest.sig`` of this chip's build
   (``http://<gateway>:<port>/fleet/<version>/<march>/``, basic auth: node id and token);
   the signature is checked by the release key before anything else is fetched.
3. Every file into ``releases/.<version>``, each continued with a ``Range`` request where a
   drop cut it off (a complete one is not fetched again), in 512-byte pieces.
4. The whole release checked again (kit/release_check.py: signature, chip, sizes, SHA-256),
   the folder renamed to ``releases/<version>``, then the pointer switched (slots.py): the kit
   boots the new version on trial, with the running one kept as the way back.

A release that is not right (signature, a hash, the chip, the heap) is *refused* and
deleted; one that cannot be had now (Wi-Fi, the gateway unreachable or paused, a download
that keeps breaking off) *waits* for the next offer. Either way the kit goes back to
measuring with the firmware it ran, and ``update.txt`` says why (the status counters
``update``, ``update_version``, ``update_reason``).
"""

import binascii
import gc
import json
import os
import socket
import sys
import time

import machine
import network
import slots
from micropython import const

_PIECE = const(512)
_TIMEOUT_S = const(15)
_TRIES = const(3)  # per file and attempt: a drop is continued where it broke off
# sys.implementation._mpy >> 10: the architecture of native code (mpy-cross -march)
_MARCH = {2: "x64", 9: "xtensa", 10: "xtensawin", 11: "rv32imc"}


class Wait(Exception):
    """Not now: try again at the next offer."""


class Refuse(Exception):
    """Not this release: it is not right for this kit."""


def march():
    return _MARCH.get(getattr(sys.implementation, "_mpy", 0) >> 10, "none")


def pending(running):
    """The offer waiting in ``offer.json``, or None; an offer of the version that runs now
    (the switch was done, the power went before the offer was removed) is removed."""
    try:
        with open(slots.OFFER) as f:
            offer = json.load(f)
        version = offer["version"]
    except (OSError, ValueError, KeyError, TypeError):
        _remove(slots.OFFER)
        return None
    if version == running:
        _remove(slots.OFFER)
        return None
    return offer


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _makedirs(path):
    built = ""
    for part in path.split("/"):
        built = built + "/" + part if built else part
        try:
            os.mkdir(built)
        except OSError:
            pass


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


class Fetcher:
    """GET the release's files from the gateway, one connection each (HTTP/1.0)."""

    def __init__(self, host, port, base, user, password, wdt):
        self.address = socket.getaddrinfo(host, port)[0][-1]
        self.head = "Host: %s:%d\r\n" % (host, port)
        if password:
            token = binascii.b2a_base64(("%s:%s" % (user, password)).encode()).strip()
            self.head += "Authorization: Basic %s\r\n" % token.decode()
        self.base = base
        self.wdt = wdt
        self.received = 0  # bytes of bodies, for the status and the benchmark

    def get(self, name, into, size=-1):
        """Fetch ``name`` into the file ``into``, continuing what it holds; Wait when the
        download broke off ``_TRIES`` times."""
        why = ""
        for _ in range(_TRIES):
            have = max(0, _size(into))
            if size >= 0 and have > size:
                _remove(into)
                have = 0
            if have and have == size:
                return
            try:
                if self._get(name, into, have):
                    return
                why = "%s: the download broke off" % name
            except OSError as exc:
                why = "%s: %s" % (name, exc)
            time.sleep_ms(200)
        raise Wait(why)

    def _get(self, name, into, have):
        sock = socket.socket()
        try:
            sock.settimeout(_TIMEOUT_S)
            sock.connect(self.address)
            request = "GET %s%s HTTP/1.0\r\n%s" % (self.base, name, self.head)
            if have:
                request += "Range: bytes=%d-\r\n" % have
            sock.write(request.encode() + b"\r\n")
            code, length, start = self._answer(sock, name)
            if code == 416:
                return True  # nothing past what it has: the check says whether that is all
            if code == 200:
                start = 0
            elif start != have:
                raise Wait("%s: the gateway sent the wrong part" % name)
            with open(into, "ab" if start else "wb") as out:
                return self._body(sock, out, length)
        finally:
            sock.close()

    def _answer(self, sock, name):
        line = sock.readline()
        try:
            code = int(line.split()[1])
        except (ValueError, IndexError):
            raise OSError("no HTTP answer") from None
        length = -1
        start = 0
        reason = ""
        while True:
            line = sock.readline()
            if not line or line == b"\r\n":
                break
            key, _, value = line.decode().partition(":")
            key = key.strip().lower()
            value = value.strip()
            if key == "content-length":
                length = int(value)
            elif key == "content-range" and value.startswith("bytes "):
                start = int(value[6:].split("-")[0] or "0")
        if code in (200, 206, 416):
            return code, length, start
        if length > 0:
            reason = sock.read(min(length, 200)).decode()
            try:
                reason = json.loads(reason).get("detail", reason)
            except (ValueError, AttributeError):
                pass
        why = "%s: gateway answered %d %s" % (name, code, reason)
        if code in (404, 409, 410):
            raise Refuse(why)
        raise Wait(why)

    def _body(self, sock, out, length):
        piece = bytearray(_PIECE)
        left = length
        while left:
            n = sock.readinto(piece, min(_PIECE, left)) if left > 0 else sock.readinto(piece)
            if not n:
                return left < 0  # a body without a length ends with the connection
            out.write(piece if n == _PIECE else memoryview(piece)[:n])
            self.received += n
            if left > 0:
                left -= n
            self.wdt.feed()
        return True


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def fetch(offer, conf, node, key, wdt):
    """Download and check the offered release into its folder; returns the body bytes
    fetched. Raises Wait, Refuse."""
    from kit.signature import verify

    version = offer["version"]
    chip = march()
    final = slots.folder(version)
    part = slots.SLOTS + "/." + version
    if _size(final + "/manifest.json") > 0 and _size(part) < 0:
        part = final  # checked and renamed before a power cut: check it again
    _makedirs(part)
    base = "%s%s/" % (offer["path"], chip)
    fetcher = Fetcher(
        conf["gateway_host"],
        offer["port"],
        base,
        conf["mqtt_user"] or node,
        conf["mqtt_password"],
        wdt,
    )
    # The small files are fetched whole every time: a part of another download is no use.
    for name in ("manifest.json", "manifest.sig"):
        _remove(part + "/" + name)
        fetcher.get(name, part + "/" + name)
    manifest = _read(part + "/manifest.json")
    signature = _read(part + "/manifest.sig")
    if not verify(key, manifest, signature):
        raise Refuse("the manifest's signature is not the release key's")
    try:
        doc = json.loads(manifest)
        files = doc["files"]
        needs = int(doc.get("min_free_heap_kib", 0) * 1024)
    except (ValueError, KeyError, TypeError):
        raise Refuse("the manifest is not a release manifest") from None
    if doc.get("version") != version:
        raise Refuse("the manifest is of %s, not of %s" % (doc.get("version"), version))
    gc.collect()
    heap = gc.mem_free() + gc.mem_alloc()
    if needs > heap:
        raise Refuse("needs %d KiB of heap, this kit has %d" % (needs // 1024, heap // 1024))
    manifest = signature = doc = None
    gc.collect()
    for entry in files:
        path = entry["path"]
        if path.startswith("/") or ".." in path.split("/"):
            raise Refuse("the manifest names a file outside the release: %s" % path)
        where = part + "/" + path
        _makedirs(where.rpartition("/")[0])
        fetcher.get(path, where, entry["size"])
    files = None
    from kit.release_check import check

    problem = check(_read(part + "/manifest.json"), _read(part + "/manifest.sig"), key, part, chip)
    if problem is not None:
        raise Refuse(problem)
    if part != final:
        slots.remove_tree(final)
        os.rename(part, final)
    return fetcher.received


def run(offer, running):
    """The update mode: fetch, check and switch, or say why not. Returns the outcome."""
    from kit import config

    conf = config.load()[0]
    node = conf["node"] or "esp32-" + "".join("%02x" % b for b in machine.unique_id())
    version, serial = offer["version"], offer.get("serial", 0)
    last = slots.noted()
    attempts = 1
    if last is not None and last[1] == version and last[2] == serial:
        attempts = last[3] + 1
    slots.note("downloading", version, serial, attempts)
    # A download that hangs anywhere ends in a reset, and the next boot measures again.
    wdt = machine.WDT(timeout=max(60, conf["watchdog_s"]) * 1000)
    # The offer is used once: whatever happens, the next boot measures.
    _remove(slots.OFFER)
    try:
        key = binascii.unhexlify(conf["release_key"])
        if len(key) != 32:
            raise ValueError
    except ValueError:
        slots.note("refused", version, serial, attempts, "no release key in the settings")
        return "refused"
    try:
        _wifi(conf, wdt)
        received = fetch(offer, conf, node, key, wdt)
    except Refuse as exc:
        slots.remove_tree(slots.SLOTS + "/." + version)
        slots.remove_tree(slots.folder(version))
        slots.note("refused", version, serial, attempts, str(exc))
        print("lokaalmeten: release %s refused: %s" % (version, exc))
        return "refused"
    except (Wait, OSError) as exc:
        # What was fetched stays: the next attempt continues it.
        slots.note("waiting", version, serial, attempts, str(exc))
        print("lokaalmeten: release %s waits: %s" % (version, exc))
        return "waiting"
    slots.note("trial", version, serial, attempts)
    slots.switch(version, running)
    slots.keep_only(version, running)
    print("lokaalmeten: switched to %s (%d bytes fetched), on trial" % (version, received))
    return "trial"


def _wifi(conf, wdt):
    sta = network.WLAN(network.WLAN.IF_STA if hasattr(network.WLAN, "IF_STA") else 0)
    sta.active(True)
    if sta.isconnected():
        return
    if not conf["wifi_ssid"]:
        raise Wait("no Wi-Fi network in the settings")
    sta.connect(conf["wifi_ssid"], conf["wifi_password"])
    deadline = time.ticks_add(time.ticks_ms(), conf["wifi_timeout_s"] * 1000)
    while not sta.isconnected():
        if time.ticks_diff(deadline, time.ticks_ms()) < 0:
            raise Wait("Wi-Fi: no connection to %r" % conf["wifi_ssid"])
        wdt.feed()
        time.sleep_ms(100)
