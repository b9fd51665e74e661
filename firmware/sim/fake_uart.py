"""A fake ``machine.UART`` for the unix port: a receive buffer and a device at the other end.

A device (firmware/sim/fake_pm_uart.py) hears every byte the firmware writes
(``device.receive(uart, data)``) and answers by ``uart.feed(frame)``; before each ``any()``
and ``readinto()`` it may also send on its own (``device.service(uart)``), as a sensor in
active mode does. Tests can feed raw byte streams (captures, garbage) and read back what the
firmware sent::

    from machine import UART
    import fake_uart
    fake_uart.connect(2, FakeSDS011())      # every UART(2) made from now on reaches it
    uart = UART(2, baudrate=9600, rx=16, tx=17, timeout=0)
    uart.feed(b"\\xaa\\xc0...")              # or: bytes straight from a capture
    uart.written                            # bytearray of everything the firmware wrote

The receive buffer is allocated once and copied into without allocating, so the drivers'
steady-state allocation can be measured through it.
"""

_devices = {}


def connect(uart_id, device):
    """Attach ``device`` to every ``UART(uart_id)`` constructed afterwards."""
    _devices[uart_id] = device


def reset():
    _devices.clear()


def _copy(dst, dst_at, src, src_at, n):
    # A plain loop allocates nothing (a slice of a memoryview would), and needs no native
    # code, so the fake loads on every port (the 32-bit WebAssembly port of the benchmarks).
    for i in range(n):
        dst[dst_at + i] = src[src_at + i]


class UART:
    INV_TX = 1
    INV_RX = 2
    RTS = 1
    CTS = 2

    def __init__(
        self,
        id,
        baudrate=9600,
        bits=8,
        parity=None,
        stop=1,
        *,
        tx=None,
        rx=None,
        rxbuf=4096,
        timeout=0,
        timeout_char=0,
        **kwargs,
    ):
        self.id = id
        self.baudrate = baudrate
        self.tx = tx
        self.rx = rx
        self.timeout = timeout
        self._buf = bytearray(rxbuf)
        self._start = 0
        self._count = 0
        self.overruns = 0
        self.written = bytearray()
        self.device = _devices.get(id)

    def init(self, baudrate=9600, **kwargs):
        self.baudrate = baudrate

    def deinit(self):
        pass

    def attach(self, device):
        self.device = device

    # -- the line, as the sensor drives it -------------------------------------------------

    def feed(self, data, start=0, end=-1):
        """Bytes arriving from the sensor; those that do not fit are lost (an overrun)."""
        if end < 0:
            end = len(data)
        buf = self._buf
        size = len(buf)
        n = end - start
        room = size - self._count
        if n > room:
            self.overruns += n - room
            n = room
        at = (self._start + self._count) % size
        first = size - at if n > size - at else n
        _copy(buf, at, data, start, first)
        if n > first:
            _copy(buf, 0, data, start + first, n - first)
        self._count += n

    def clear(self):
        self._start = 0
        self._count = 0

    # -- machine.UART ----------------------------------------------------------------------

    def _service(self):
        if self.device is not None:
            self.device.service(self)

    def any(self):
        self._service()
        return self._count

    def readinto(self, buf, nbytes=-1):
        self._service()
        n = len(buf) if nbytes < 0 else nbytes
        if n > self._count:
            n = self._count
        if n == 0:
            return None
        size = len(self._buf)
        first = size - self._start if n > size - self._start else n
        _copy(buf, 0, self._buf, self._start, first)
        if n > first:
            _copy(buf, first, self._buf, 0, n - first)
        self._start = (self._start + n) % size
        self._count -= n
        return n

    def read(self, nbytes=-1):
        n = self.any() if nbytes < 0 else min(nbytes, self.any())
        if n == 0:
            return None
        buf = bytearray(n)
        self.readinto(buf)
        return bytes(buf)

    def write(self, data):
        self.written.extend(data)
        if self.device is not None:
            self.device.receive(self, data)
        return len(data)

    def flush(self):
        pass

    def txdone(self):
        return True
