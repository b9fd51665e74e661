"""A fake ``socket`` module whose only peer is a tiny MQTT 3.1.1 broker in the same process.

For memory measurements on a MicroPython without sockets (the 32-bit WebAssembly port) and
for the same measurement on the unix port, so that both run one program: the kit's MQTT
client talks to it exactly as to Mosquitto, and it answers what a broker answers (CONNACK,
PUBACK for QoS 1, SUBACK, PINGRESP), keeping nothing it is sent::

    import sys, loopback
    sys.modules["socket"] = loopback      # before the firmware imports socket
    # simkit does this with broker=loopback

Made to allocate little and nothing that grows: the answers go into one fixed buffer.
"""

AF_INET = 2
SOCK_STREAM = 1
PUBLISHED = [0]  # QoS 1 PUBLISH packets acknowledged, for the harness's counts


def getaddrinfo(host, port, family=0, kind=0, proto=0, flags=0):
    return [(AF_INET, SOCK_STREAM, 0, "", (host, port))]


class socket:  # lower case: the name of the class on every port
    def __init__(self, family=AF_INET, kind=SOCK_STREAM, proto=0):
        self._out = bytearray(64)  # answers waiting to be read
        self._len = 0
        self._pos = 0
        self._open = True

    def settimeout(self, seconds):
        pass

    def setblocking(self, flag):
        pass

    def connect(self, address):
        pass

    def close(self):
        self._open = False

    def _answer(self, *data):
        out = self._out
        if self._pos == self._len:
            self._pos = self._len = 0
        for byte in data:
            out[self._len] = byte
            self._len += 1

    def write(self, packet):
        if not self._open:
            raise OSError(9)  # EBADF
        kind = packet[0] & 0xF0
        remaining = 0
        shift = 0
        i = 1
        while True:
            remaining |= (packet[i] & 0x7F) << shift
            if not packet[i] & 0x80:
                break
            i += 1
            shift += 7
        body = i + 1
        if len(packet) < body + remaining:
            # The client writes a packet in one piece when it fits its buffer (1280 bytes).
            raise OSError("loopback: packets must arrive in one write")
        if kind == 0x10:  # CONNECT
            self._answer(0x20, 2, 0, 0)
        elif kind == 0x30 and packet[0] & 0x06:  # PUBLISH, QoS 1: PUBACK its packet id
            topic_length = packet[body] << 8 | packet[body + 1]
            pid = body + 2 + topic_length
            PUBLISHED[0] += 1
            self._answer(0x40, 2, packet[pid], packet[pid + 1])
        elif kind == 0x80:  # SUBSCRIBE: granted QoS 0
            self._answer(0x90, 3, packet[body], packet[body + 1], 0)
        elif kind == 0xC0:  # PINGREQ
            self._answer(0xD0, 0)
        return len(packet)

    send = write

    def read(self, n):
        if not self._open:
            raise OSError(9)
        available = self._len - self._pos
        if available <= 0:
            return None  # non-blocking read with nothing waiting
        n = min(n, available)
        data = bytes(self._out[self._pos : self._pos + n])
        self._pos += n
        return data

    recv = read
