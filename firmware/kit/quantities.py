"""The protocol's quantities (docs/protocol.md) with their plausible ranges, for the kit.

    from kit.quantities import QUANTITIES
    low, high = QUANTITIES["pm25"]      # (0, 1000) µg/m³

A test checks this copy against the gateway's table, lokaalmeten.protocol.quantities.
"""

QUANTITIES = {
    "pm1": (0, 1000),
    "pm25": (0, 1000),
    "pm4": (0, 1000),
    "pm10": (0, 2000),
    "temperature": (-40, 85),
    "humidity": (0, 100),
    "pressure": (300, 1100),
    "co2": (0, 40000),
    "noise_laeq": (0, 140),
    "noise_lamin": (0, 140),
    "noise_lamax": (0, 140),
    "noise_la10": (0, 140),
    "noise_la90": (0, 140),
}
