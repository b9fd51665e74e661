"""The kit's record as a compact LoRaWAN frame: a few bytes instead of a JSON document.

LoRaWAN carries 51 bytes at SF10–SF12 in EU868 and The Things Network allows 30 s of
airtime a day per device, so a record goes as integers in a fixed table (docs/protocol.md,
"LoRaWAN frames")::

    byte 0      the frame format, 1
    bytes 1–2   which fields follow: bit i (big-endian, bit 0 the lowest) for FIELDS[i]
    then        each field present, in table order: its value × scale as a big-endian
                integer of its size, signed where the table says so

``age`` (seconds since the record was made, for a record sent late) and ``seq`` (the
record's sequence number, its lowest 16 bits) are fields like the quantities. A value the
field cannot hold is left out (the gateway sees it missing, never a wrong number)::

    from kit.lora_frame import encode
    frame = encode({"pm25": 8.1, "temperature": 12.34}, age=0, seq=43)   # 11 bytes

The gateway decodes with the same table (lokaalmeten/protocol/lora_frame.py reads this file)
and so does the payload formatter it generates for The Things Stack.
"""

FORMAT = 1
# (name, bytes, signed, scale): value = raw / scale
FIELDS = (
    ("pm1", 2, False, 10),
    ("pm25", 2, False, 10),
    ("pm4", 2, False, 10),
    ("pm10", 2, False, 10),
    ("temperature", 2, True, 100),
    ("humidity", 2, False, 100),
    ("pressure", 2, False, 10),
    ("co2", 2, False, 1),
    ("noise_laeq", 2, False, 100),
    ("noise_lamin", 2, False, 100),
    ("noise_lamax", 2, False, 100),
    ("noise_la10", 2, False, 100),
    ("noise_la90", 2, False, 100),
    ("age", 2, False, 1),
    ("seq", 2, False, 1),
)


def encode(values, age=None, seq=None):
    """The frame of a record's ``values`` (quantity: number); fields it has no value for,
    or whose value does not fit, are left out."""
    present = 0
    body = bytearray()
    for index, (name, size, signed, scale) in enumerate(FIELDS):
        if name == "age":
            value = age
        elif name == "seq":
            value = None if seq is None else seq & 0xFFFF
        else:
            value = values.get(name)
        if value is None or value != value:  # missing, or NaN
            continue
        raw = round(value * scale)
        low = -(1 << (8 * size - 1)) if signed else 0
        high = (1 << (8 * size - 1)) - 1 if signed else (1 << (8 * size)) - 1
        if not low <= raw <= high:
            continue
        present |= 1 << index
        body.extend((raw & ((1 << (8 * size)) - 1)).to_bytes(size, "big"))
    return bytes([FORMAT, present >> 8, present & 0xFF]) + body
