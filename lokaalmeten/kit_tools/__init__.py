"""Tools that put firmware on a kit: flashing MicroPython, deploying the firmware, wiring.

lokaalmeten flash --port /dev/ttyUSB0 --firmware ESP32_GENERIC-v1.24.1.bin
lokaalmeten deploy --port /dev/ttyUSB0 --node esp32-0a1b2c --gateway 192.168.1.10 --dry-run
"""
