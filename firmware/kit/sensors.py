"""The sensor registry: a configured sensor table turned into driver objects on their buses.

Each entry of the configuration's ``sensors`` list names a type from ``REGISTRY`` and its
bus and pins (defaults from hardware/wiring/README.md)::

    from kit import sensors
    buses = {}
    spec = {"type": "sds011", "uart": 2, "rx": 16, "tx": 17}
    driver, flags = sensors.open_sensor(0, spec, buses, sensors.machine_bus)
    print(driver.MODEL, driver.QUANTITIES)

Drivers are imported only when configured, so a kit pays heap only for the sensors it has.
"""

from micropython import const

from kit.errors import KitError

# Flags: DUTY sensors have a fan and a laser to spare (on only for warm-up and sampling
# before each record); INTERVAL sensors aggregate themselves and are read once per record.
DUTY = const(1)
INTERVAL = const(2)

# type: (module, class, bus, flags)
REGISTRY = {
    "sds011": ("drivers.sds011", "SDS011", "uart", DUTY),
    "pms5003": ("drivers.pms5003", "PMS5003", "uart", DUTY),
    "sps30": ("drivers.sps30", "SPS30", "i2c", DUTY),
    "bme280": ("drivers.bme280", "BME280", "i2c", 0),
    "sht3x": ("drivers.sht3x", "SHT3x", "i2c", 0),
    "sht4x": ("drivers.sht4x", "SHT4x", "i2c", 0),
    "scd30": ("drivers.scd30", "SCD30", "i2c", 0),
    "scd4x": ("drivers.scd4x", "SCD4x", "i2c", 0),
    "dnms": ("drivers.dnms", "DNMS", "i2c", INTERVAL),
    "noise": ("noise.meter", "NoiseMeter", "i2s", INTERVAL),
}

# Bus keys with their defaults (an ESP32-DevKitC's wiring; deploy writes each board's own
# pins) and allowed ranges; which GPIOs a board really has is checked in kit.config.
BUS_KEYS = {
    "uart": (("uart", 2, 0, 2), ("rx", 16, 0, 48), ("tx", 17, 0, 48)),
    "i2c": (("i2c", 0, 0, 1), ("sda", 21, 0, 48), ("scl", 22, 0, 48)),
    "i2s": (("i2s", 0, 0, 1), ("sck", 26, 0, 48), ("ws", 25, 0, 48), ("sd", 33, 0, 48)),
}
# Optional per-sensor keys: name -> (kind, low, high)
OPTION_KEYS = {
    "address": (int, 8, 119),
    "sensitivity_dbfs": (float, -60.0, 0.0),
    "rate": (int, 8000, 48000),
}
UART_BAUD = 9600  # SDS011 and PMS5003 both talk 9600 8N1


def bus_key(spec):
    """The identity of the bus a sensor sits on, so that I2C sensors share one bus object."""
    kind = REGISTRY[spec["type"]][2]
    return kind + str(spec[kind])


def machine_bus(kind, spec):
    """Open a real bus on the ESP32 (or the fake one under the unix port) for ``spec``."""
    import machine

    if kind == "uart":
        # timeout=0: the drivers' parsers take what has arrived and never wait.
        return machine.UART(
            spec["uart"], baudrate=UART_BAUD, rx=spec["rx"], tx=spec["tx"], timeout=0
        )
    if kind == "i2c":
        pin = machine.Pin
        return machine.I2C(spec["i2c"], sda=pin(spec["sda"]), scl=pin(spec["scl"]), freq=100000)
    from noise.meter import open_i2s  # only a kit with a microphone loads it

    # The meter's own opener (32-bit mono words, 128 ms of buffer) on the configured pins.
    return open_i2s(
        machine.I2S,
        machine.Pin,
        spec["sck"],
        spec["ws"],
        spec["sd"],
        spec.get("rate", 16000),
        spec["i2s"],
    )


def open_sensor(index, spec, buses, make_bus):
    """The driver object for one configured sensor; ``buses`` caches buses by ``bus_key``.

    ``make_bus(kind, spec)`` opens a bus (``machine_bus`` on a kit). A bus that cannot be
    opened or a driver that is not installed raises KitError naming the sensor.
    """
    module_name, class_name, kind, flags = REGISTRY[spec["type"]]
    key = bus_key(spec)
    try:
        if key not in buses:
            buses[key] = make_bus(kind, spec)
        module = __import__(module_name, None, None, (class_name,))
    except (OSError, ValueError, ImportError) as exc:
        raise KitError("sensors[%d] (%s): %s" % (index, spec["type"], exc))
    options = {}
    for name in OPTION_KEYS:
        if name in spec:
            options[name] = spec[name]
    return getattr(module, class_name)(buses[key], **options), flags
