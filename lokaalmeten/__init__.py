"""lokaalmeten: a toolkit for citizen 'lokaal meten' (local measurement) networks.

Firmware for ESP32 sensor kits (``lokaalmeten.firmware``, MicroPython source), a gateway
that stores their readings (``lokaalmeten.gateway``) and an open-data server
(``lokaalmeten.server``). The command-line program is ``lokaalmeten``.
"""

__version__ = "0.1.0"
