"""A small MQTT 3.1.1 client for the kit: QoS 0 and 1, Last Will, persistent sessions.

Store-and-forward needs to know exactly which record the broker has taken: ``publish`` with
QoS 1 returns only after the broker's PUBACK for that packet id, and raises otherwise, so the
caller removes a record from its outbox only when the broker holds it::

    client = MQTTClient("esp32-0a1b2c", "192.168.1.10", keepalive=60)
    client.set_last_will("lokaalmeten/esp32-0a1b2c/status", b'{"state":"offline"}', retain=True)
    client.connect()
    client.publish("lokaalmeten/esp32-0a1b2c/readings", payload, qos=1)

Runs unchanged on an ESP32 and under the unix port (real sockets). Receiving (subscribe,
polling for messages) is in ``kit.mqtt_inbound``, loaded only by a kit that takes commands.
"""

import socket
import struct

from micropython import const

from kit.errors import KitError

_CONNECT = const(0x10)
_CONNACK = const(0x20)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_PINGREQ = const(0xC0)
_PINGRESP = const(0xD0)
_DISCONNECT = const(0xE0)
_OUT_MAX = const(1280)

_CONNACK_REASONS = {
    1: "unacceptable protocol version",
    2: "client id rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}


class MQTTError(KitError):
    """The broker could not be reached, refused us, or the connection broke."""


def _encode_length(buf, length):
    """Write MQTT's variable-length 'remaining length' into buf; return bytes used."""
    i = 0
    while True:
        byte = length & 0x7F
        length >>= 7
        buf[i] = byte | 0x80 if length else byte
        i += 1
        if not length:
            return i


def _string(value):
    if isinstance(value, str):
        value = value.encode()
    return struct.pack("!H", len(value)) + value


class MQTTClient:
    sock: socket.socket  # None while not connected; used only while connected

    def __init__(
        self,
        client_id,
        server,
        port=1883,
        user=None,
        password=None,
        keepalive=60,
        clean_session=False,
        timeout=10,
    ):
        self.client_id = client_id
        self.server = server
        self.port = port
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.clean_session = clean_session
        self.timeout = timeout
        self.sock = None  # type: ignore[assignment]
        self.pid = 0
        self.on_message = None
        self._will = None
        self._header = bytearray(5)
        # Whole packets go out in one write: split writes meet Nagle's algorithm and the
        # broker's delayed ACK, 40 ms per PUBLISH. Made once; bigger packets are split.
        self._out = bytearray(_OUT_MAX)

    def set_last_will(self, topic, msg, retain=False, qos=0):
        self._will = (topic, msg, retain, qos)

    # -- connection ----------------------------------------------------------------------

    def connect(self):
        """Open the connection; returns True when the broker resumed a stored session."""
        address = socket.getaddrinfo(self.server, self.port, 0, socket.SOCK_STREAM)[0][-1]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(address)
        except OSError as exc:
            sock.close()
            raise MQTTError("cannot reach broker %s:%d: %s" % (self.server, self.port, exc))
        self.sock = sock
        flags = 0 if not self.clean_session else 0x02
        payload = _string(self.client_id)
        if self._will:
            topic, msg, retain, qos = self._will
            flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
            payload += _string(topic) + _string(msg)
        if self.user is not None:
            flags |= 0x80
            payload += _string(self.user)
            if self.password is not None:
                flags |= 0x40
                payload += _string(self.password)
        variable = b"\x00\x04MQTT\x04" + bytes([flags]) + struct.pack("!H", self.keepalive)
        self._send(_CONNECT, variable + payload)
        kind, body = self._read_packet()
        if kind != _CONNACK or len(body) != 2:
            self.close()
            raise MQTTError("broker answered CONNECT with packet type 0x%02x" % kind)
        if body[1]:
            self.close()
            reason = _CONNACK_REASONS.get(body[1], "code %d" % body[1])
            raise MQTTError("broker refused the connection: " + reason)
        return bool(body[0] & 1)

    def disconnect(self):
        if self.sock:
            try:
                self._send(_DISCONNECT, b"")
            except OSError:
                pass
            self.close()

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None  # type: ignore[assignment]

    # -- publishing ----------------------------------------------------------------------

    def publish(self, topic, msg, retain=False, qos=0):
        """Send one message; with qos=1, return only after the broker's PUBACK."""
        if qos not in (0, 1):
            raise MQTTError("QoS %r is not supported (0 or 1)" % (qos,))
        topic_bytes = _string(topic)
        if qos:
            pid = self._next_pid()
            self._send(
                _PUBLISH | (qos << 1) | (1 if retain else 0),
                topic_bytes + struct.pack("!H", pid),
                msg,
            )
            self._wait_for(_PUBACK, pid)
        else:
            self._send(_PUBLISH | (1 if retain else 0), topic_bytes, msg)

    def ping(self):
        self._send(_PINGREQ, b"")
        self._wait_for(_PINGRESP, None)

    # -- packets -------------------------------------------------------------------------

    def _next_pid(self):
        self.pid = self.pid % 65535 + 1  # packet ids run 1..65535
        return self.pid

    def _send(self, first_byte, variable, payload=b""):
        if self.sock is None:
            raise MQTTError("not connected")
        header = self._header
        header[0] = first_byte
        used = _encode_length(memoryview(header)[1:], len(variable) + len(payload))
        total = used + 1 + len(variable) + len(payload)
        if total <= _OUT_MAX:
            out = memoryview(self._out)
            out[: used + 1] = memoryview(header)[: used + 1]
            out[used + 1 : used + 1 + len(variable)] = variable
            out[used + 1 + len(variable) : total] = payload
            try:
                self.sock.write(out[:total])
            except OSError as exc:
                self.close()
                raise MQTTError("connection lost while sending: %s" % exc)
            return
        try:
            self.sock.write(memoryview(header)[: used + 1])
            self.sock.write(variable)
            if payload:
                self.sock.write(payload)
        except OSError as exc:
            self.close()
            raise MQTTError("connection lost while sending: %s" % exc)

    def _read_exact(self, n):
        data = b""
        while len(data) < n:
            try:
                chunk = self.sock.read(n - len(data))
            except OSError as exc:
                self.close()
                raise MQTTError("connection lost while receiving: %s" % exc)
            if not chunk:
                self.close()
                raise MQTTError("broker closed the connection")
            data += chunk
        return data

    def _read_packet(self, first=None):
        if first is None:
            first = self._read_exact(1)[0]
        length = 0
        shift = 0
        while True:
            byte = self._read_exact(1)[0]
            length |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 21:
                self.close()
                raise MQTTError("malformed remaining length from broker")
        return first, self._read_exact(length) if length else b""

    def _wait_for(self, kind, pid):
        while True:
            got, body = self._read_packet()
            if got == kind and (pid is None or struct.unpack("!H", body[:2])[0] == pid):
                return body
            self._dispatch(got, body)

    def _dispatch(self, kind, body):
        if kind & 0xF0 == _PUBLISH:
            topic_length = struct.unpack("!H", body[:2])[0]
            topic = body[2 : 2 + topic_length].decode()
            start = 2 + topic_length
            qos = (kind >> 1) & 0x03
            if qos:
                pid = body[start : start + 2]
                start += 2
                self._send(_PUBACK, pid)
            if self.on_message:
                self.on_message(topic, body[start:])
        # Anything else here is a stray acknowledgement of an earlier packet: nothing to do.
