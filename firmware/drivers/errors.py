"""The one exception of the driver package.

from drivers.errors import SensorError
raise SensorError("SDS011: no frame for 3 s; check the TX/RX wires")
"""


class SensorError(Exception):
    """A sensor or its bus failed; the message names the sensor and what went wrong."""
