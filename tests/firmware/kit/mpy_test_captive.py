# MicroPython tests of the portal's DNS answer (firmware/kit/captive.py), over real UDP.
import os
import socket

from kit.captive import CaptiveDNS

MPY_HEAP = "64k"

# A query as a phone sends it: id 0x1234, recursion desired, one question:
# connectivitycheck.gstatic.com, type A, class IN.
NAME = b"\x11connectivitycheck\x07gstatic\x03com\x00"
QUERY_A = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + NAME + b"\x00\x01\x00\x01"
QUERY_AAAA = b"\x56\x78\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + NAME + b"\x00\x1c\x00\x01"


def _port():
    return 30000 + (os.urandom(1)[0] << 6) + os.urandom(1)[0] % 64


def test_every_a_query_is_answered_with_the_kits_address():
    dns = CaptiveDNS("127.0.0.1", _port())
    size = dns.answer(QUERY_A)
    assert bytes(dns.buf[:size]) == (
        b"\x12\x34\x85\x00"  # same id; answer, authoritative, recursion desired; no error
        b"\x00\x01\x00\x01\x00\x00\x00\x00"  # one question, one answer
        + NAME
        + b"\x00\x01\x00\x01"
        + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x7f\x00\x00\x01"
    )
    dns.close()


def test_other_types_get_an_empty_answer_and_answers_are_ignored():
    dns = CaptiveDNS("127.0.0.1", _port())
    size = dns.answer(QUERY_AAAA)
    assert bytes(dns.buf[4:12]) == b"\x00\x01\x00\x00\x00\x00\x00\x00"
    assert size == len(QUERY_AAAA)
    assert dns.answer(bytes(dns.buf[:size])) == 0  # never answer an answer
    assert dns.answer(b"\x00" * 5) == 0
    dns.close()


def test_a_query_over_udp_gets_its_answer():
    port = _port()
    dns = CaptiveDNS("127.0.0.1", port)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(2)
    address = socket.getaddrinfo("127.0.0.1", port)[0][-1]
    client.sendto(QUERY_A, address)
    dns.step()
    reply = client.recv(512)
    assert reply[:2] == b"\x12\x34" and reply[-4:] == b"\x7f\x00\x00\x01"
    assert dns.answers == 1
    client.close()
    dns.close()
