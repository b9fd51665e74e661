"""Receiving over MQTT: subscriptions and polling, for a kit that takes commands.

Kept out of ``kit.mqtt`` so that a kit which only publishes (every kit today) does not load
this code into its heap::

    from kit.mqtt_inbound import InboundClient
    client = InboundClient("esp32-0a1b2c", "192.168.1.10")
    client.on_message = lambda topic, payload: print(topic, payload)
    client.connect()
    client.subscribe("lokaalmeten/esp32-0a1b2c/command", qos=1)
    client.check_msg()      # in the main loop: handles one waiting message, never blocks
"""

import struct

from micropython import const

from kit.mqtt import MQTTClient, MQTTError, _string

_SUBSCRIBE = const(0x82)
_SUBACK = const(0x90)


class InboundClient(MQTTClient):
    def subscribe(self, topic, qos=0):
        pid = self._next_pid()
        self._send(_SUBSCRIBE, struct.pack("!H", pid) + _string(topic) + bytes([qos]))
        body = self._wait_for(_SUBACK, pid)
        if body[2] == 0x80:
            raise MQTTError("broker refused the subscription to " + topic)

    def check_msg(self):
        """Handle one waiting packet, if any, without blocking."""
        self.sock.setblocking(False)
        try:
            first = self.sock.read(1)
        except OSError:
            first = None
        finally:
            self.sock.settimeout(self.timeout)
        if first:
            kind, body = self._read_packet(first[0])
            self._dispatch(kind, body)
