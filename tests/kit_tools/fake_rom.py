"""A stand-in for an ESP32's serial bootloader on a pseudo-terminal, for real esptool runs.

No board exists on a build machine, so this plays the board's side of Espressif's serial
protocol (SLIP frames; request ``00 op len chk data``, response ``01 op len value data
status``), as esptool's loader and Espressif's "Serial Protocol" documentation describe it:
SYNC answered eight times, READ_REG from a register table (the chip-detect magic at
0x40001000, the eFuse words that hold the MAC), GET_SECURITY_INFO refused by an ESP32 ROM or
answered with the chip id by an S3, the flasher stub's "OHAI" after MEM_END, and a 4 MB
flash that FLASH_DEFL_DATA inflates into and SPI_FLASH_MD5 hashes, so esptool's own
verification of a written image runs. It is the fake at the hardware seam, not a board: the
bytes follow the protocol, the values are the chips' documented ones (esptool's targets).

    rom = FakeRom.esp32()
    with rom:                         # a pty; rom.port is its device path
        subprocess.run(["python", "-m", "esptool", "--port", rom.port, "read-mac"])
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
import tty
import zlib
from types import TracebackType

ESP32_MAGIC = 0x00F01D83  # esptool targets/esp32.py MAGIC_VALUE, read at 0x40001000
ESP32_EFUSE = 0x3FF5A000  # EFUSE_RD_REG_BASE; MAC in words 1 and 2
FLASH_SIZE = 4 * 1024 * 1024


def slip(packet: bytes) -> bytes:
    return b"\xc0" + packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


class FakeRom(threading.Thread):
    def __init__(self, registers: dict[int, int], chip_id: int | None) -> None:
        super().__init__(daemon=True)
        self.registers = registers
        self.chip_id = chip_id  # None: an ESP32 ROM, which has no GET_SECURITY_INFO
        self.commands: list[int] = []
        self.flash = bytearray(b"\xff" * FLASH_SIZE)
        self.stub = False
        self._inflate: zlib._Decompress | None = None
        self._write_at = 0
        self.controller, self.device = os.openpty()
        tty.setraw(self.controller)
        tty.setraw(self.device)
        self.port = os.ttyname(self.device)

    @classmethod
    def esp32(cls) -> FakeRom:
        # MAC 24:0a:c4:aa:bb:cc; UART divider 347: 115200 baud from a 40 MHz crystal.
        registers = {
            0x40001000: ESP32_MAGIC,
            ESP32_EFUSE + 4: 0xC4AABBCC,
            ESP32_EFUSE + 8: 0x0000240A,
            0x3FF40014: 347,
        }
        return cls(registers, None)

    @classmethod
    def esp32s3(cls) -> FakeRom:
        return cls({}, 9)

    @classmethod
    def esp32s3_n16r8(cls) -> FakeRom:
        # An ESP32-S3R8 (the chip of a WROOM-1-N16R8): eFuse BLOCK1 word 4 (0x60007044 +
        # 16) holds PSRAM_CAP in bits 3-4 (1: 8 MB) and PSRAM_VENDOR in bits 7-8 (1: AP_3v3),
        # which esptool prints as "Embedded PSRAM 8MB (AP_3v3)" in its Features line.
        return cls({0x60007044 + 16: 1 << 3 | 1 << 7}, 9)

    def __enter__(self) -> FakeRom:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        os.close(self.device)
        os.close(self.controller)

    def _reply(self, op: int, value: int = 0, data: bytes = b"", failed: bool = False) -> None:
        status = (b"\x01\x05" if failed else b"\x00\x00") + (b"" if self.stub else b"\x00\x00")
        body = data + status
        os.write(self.controller, slip(struct.pack("<BBHI", 1, op, len(body), value) + body))

    def run(self) -> None:
        packet = bytearray()
        inside = escaped = False
        while True:
            try:
                chunk = os.read(self.controller, 65536)
            except OSError:
                return
            for byte in chunk:
                if byte == 0xC0:
                    if inside and packet:
                        self._handle(bytes(packet))
                        packet.clear()
                        inside = False
                    else:
                        inside = True
                        packet.clear()
                elif not inside:
                    continue
                elif escaped:
                    packet.append(0xC0 if byte == 0xDC else 0xDB)
                    escaped = False
                elif byte == 0xDB:
                    escaped = True
                else:
                    packet.append(byte)

    def _handle(self, packet: bytes) -> None:
        if len(packet) < 8 or packet[0] != 0:
            return
        op = packet[1]
        body = packet[8:]
        self.commands.append(op)
        if op == 0x08:  # SYNC: the ROM answers eight times
            for _ in range(8):
                self._reply(op, 0x20120707)
        elif op == 0x0A:  # READ_REG
            (address,) = struct.unpack("<I", body[:4])
            self._reply(op, self.registers.get(address, 0))
        elif op == 0x14:  # GET_SECURITY_INFO
            if self.chip_id is None:
                self._reply(op, failed=True)
            else:
                info = struct.pack("<IB7sII", 0, 0, bytes(7), self.chip_id, 0)
                self._reply(op, data=info)
        elif op == 0x06:  # MEM_END: the flasher stub starts and greets
            self._reply(op)
            self.stub = True
            os.write(self.controller, slip(b"OHAI"))
        elif op == 0xD0:  # ERASE_FLASH (stub)
            self.flash[:] = b"\xff" * FLASH_SIZE
            self._reply(op)
        elif op in (0x02, 0x10):  # FLASH_BEGIN, FLASH_DEFL_BEGIN: size, blocks, block, offset
            self._write_at = struct.unpack("<IIII", body[:16])[3]
            self._inflate = zlib.decompressobj() if op == 0x10 else None
            self._reply(op)
        elif op in (0x03, 0x11):  # FLASH_DATA, FLASH_DEFL_DATA: size, seq, 0, 0, data
            size = struct.unpack("<I", body[:4])[0]
            data = body[16 : 16 + size]
            if op == 0x11:
                assert self._inflate is not None
                data = self._inflate.decompress(data)
            self.flash[self._write_at : self._write_at + len(data)] = data
            self._write_at += len(data)
            self._reply(op)
        elif op == 0x13:  # SPI_FLASH_MD5: address, size
            address, size = struct.unpack("<II", body[:8])
            digest = hashlib.md5(self.flash[address : address + size]).digest()
            self._reply(op, data=digest if self.stub else digest.hex().encode())
        else:  # everything else (SPI_ATTACH, WRITE_REG, MEM_BEGIN/DATA, ...) succeeds
            self._reply(op)
