"""The one exception family of the kit runtime.

    from kit.errors import KitError
    raise KitError("config: 'interval_s' must be a whole number from 1 to 86400, got 'abc'")

``kit.mqtt.MQTTError`` derives from it, so ``except KitError`` catches every failure the
runtime itself reports; sensor drivers raise their own ``drivers.errors.SensorError``.
"""


class KitError(Exception):
    """A configuration, storage or connection problem; the message names what to fix."""
