"""A fake ``machine.I2C`` / ``SoftI2C`` for the unix port, with devices at their addresses.

A device has an ``address`` and two methods, ``write(data)`` for what the controller sends
and ``read_into(buf)`` for what it reads back (register devices also ``select(reg)`` and
``write_mem(reg, data)``, for the ``*_mem`` calls); devices compute real answers (CRCs, register
maps) in firmware/sim/fake_sensirion.py and fake_bme280.py. Faults are injected per address::

    from machine import I2C, Pin
    import fake_i2c
    fake_i2c.connect(0, FakeSCD30())          # every I2C(0) made from now on has it on the bus
    i2c = I2C(0, scl=Pin(22), sda=Pin(21))
    i2c.fail(0x61, fake_i2c.ENODEV)           # the next transfer to 0x61 is not acknowledged
    i2c.fail(0x61, fake_i2c.ETIMEDOUT, 2)     # the next two time out

As on the ESP32, a missing device or a NACK raises OSError(ENODEV) and a time-out
OSError(ETIMEDOUT).
"""

ENODEV = 19
EIO = 5
ETIMEDOUT = 116  # what the ESP32 port raises (ESP-IDF numbers it as newlib does)

_buses = {}


def connect(bus_id, device):
    """Put ``device`` on every I2C bus ``bus_id`` constructed afterwards."""
    _buses.setdefault(bus_id, []).append(device)


def reset():
    _buses.clear()


class I2C:
    def __init__(self, id=0, *, scl=None, sda=None, freq=400000, timeout=50000):
        self.id = id
        self.freq = freq
        self.devices = {}
        self._faults = {}
        self.transfers = 0
        for device in _buses.get(id, ()):
            self.attach(device)

    def init(self, **kwargs):
        self.freq = kwargs.get("freq", self.freq)

    def deinit(self):
        pass

    def attach(self, device):
        self.devices[device.address] = device

    def detach(self, address):
        self.devices.pop(address, None)

    def fail(self, address, errno=ENODEV, times=1):
        """Make the next ``times`` transfers to ``address`` fail with OSError(errno)."""
        self._faults[address] = (errno, times)

    def _device(self, address):
        self.transfers += 1
        fault = self._faults.get(address)
        if fault is not None:
            errno, times = fault
            if times <= 1:
                del self._faults[address]
            else:
                self._faults[address] = (errno, times - 1)
            raise OSError(errno)
        device = self.devices.get(address)
        if device is None:
            raise OSError(ENODEV)
        return device

    def scan(self):
        return sorted(self.devices)

    def writeto(self, addr, buf, stop=True):
        self._device(addr).write(buf)
        return len(buf)

    def writevto(self, addr, vector, stop=True):
        data = bytearray()
        for buf in vector:
            data.extend(buf)
        return self.writeto(addr, data, stop)

    def readfrom_into(self, addr, buf, stop=True):
        self._device(addr).read_into(buf)

    def readfrom(self, addr, nbytes, stop=True):
        buf = bytearray(nbytes)
        self.readfrom_into(addr, buf, stop)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        self._device(addr).write_mem(memaddr, buf)

    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        device = self._device(addr)
        device.select(memaddr)
        device.read_into(buf)

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf)
        return bytes(buf)


class SoftI2C(I2C):
    def __init__(self, scl=None, sda=None, *, freq=400000, timeout=50000):
        super().__init__(-1, scl=scl, sda=sda, freq=freq, timeout=timeout)
