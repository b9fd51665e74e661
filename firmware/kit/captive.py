"""The portal's DNS answer: every name is the kit, so phones open the set-up page themselves.

MicroPython has no captive portal built in. On the kit's access point this answers every
DNS query for an IPv4 address (type A) with the kit's own address; phones and laptops
then find their connectivity check (``/generate_204`` …) answered by the portal and show
the set-up page. Other query types get an empty answer, so clients fall back to IPv4::

    dns = CaptiveDNS("192.168.4.1")     # UDP port 53 on the access point
    dns.step()                          # from the main loop: answers one waiting query
"""

import socket

from micropython import const

_QUERY_MAX = const(512)  # DNS over UDP: at most 512 bytes
_TTL = const(60)


class CaptiveDNS:
    def __init__(self, address, port=53):
        self.answers = 0
        self.ip = bytes(int(part) for part in address.split("."))
        self.buf = bytearray(_QUERY_MAX + 16)  # the query, then the answer, made once
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(socket.getaddrinfo(address, port)[0][-1])
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.sock = sock

    def close(self):
        self.sock.close()

    def step(self):
        try:
            query, client = self.sock.recvfrom(_QUERY_MAX)
        except OSError:
            return  # nothing waiting
        size = self.answer(query)
        if size:
            try:
                self.sock.sendto(memoryview(self.buf)[:size], client)
                self.answers += 1
            except OSError:
                pass  # the client left; it will ask again

    def answer(self, query):
        """Build the answer to ``query`` in ``buf``; return its length (0: not a query)."""
        if len(query) < 17 or query[2] & 0x80:  # too short, or itself an answer
            return 0
        end = 12
        while end < len(query) and query[end]:  # the question's name: length-prefixed labels
            end += query[end] + 1
        end += 5  # the name's final zero, type and class
        if end > len(query):
            return 0
        buf = self.buf
        buf[0:2] = query[0:2]  # the client's id
        buf[2] = 0x84 | (query[2] & 0x01)  # answer, authoritative, recursion desired as asked
        buf[3] = 0x00  # no error
        is_a = query[end - 4] == 0 and query[end - 3] == 1
        buf[4:12] = b"\x00\x01\x00\x01\x00\x00\x00\x00" if is_a else b"\x00\x01" + bytes(6)
        buf[12:end] = query[12:end]
        if not is_a:
            return end
        # Name as a pointer to the question (offset 12), type A, class IN, TTL, 4 bytes.
        buf[end : end + 12] = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00" + bytes((_TTL, 0, 4))
        buf[end + 12 : end + 16] = self.ip
        return end + 16
