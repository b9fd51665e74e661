"""Optional output: forward chosen kits' readings to the Sensor.Community API.

Off unless configured as an extra store, and only for the kits whose owners chose it
(Sensor.Community publishes the location registered there): those named in the URL, and
those chosen in the node directory (``lokaalmeten forward add NODE sensorcommunity``)::

    lokaalmeten gateway --extra-store \\
        "sensorcommunity+https://api.sensor.community/v1/push-sensor-data/?nodes=esp32-0a1b2c"

Each kit must be registered at Sensor.Community under the same id (``esp32-<chip id>``).
Readings are posted as an airRohr kit posts them (its firmware's ``sendData``,
https://github.com/opendata-stuttgart/sensors-software): one POST per sensor,
headers ``X-Sensor`` and ``X-PIN``, value types without prefix, values as strings, pressure
in pascal. The API stamps data with its arrival time, so readings older than
``max_age`` seconds (default 600) are skipped rather than sent late. A refusal (4xx) is
logged and the readings are dropped for this output only; a failure to reach the API (or a
5xx) is retried by the gateway's writer like any store outage.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from lokaalmeten.gateway.opt_ins import OptIns
from lokaalmeten.gateway.writer import Output
from lokaalmeten.protocol.sensor_community import VALUE_TYPES as SC_VALUE_TYPES
from lokaalmeten.readings import Reading
from lokaalmeten.store import StoreError, WriteResult

log = logging.getLogger("lokaalmeten.gateway")

# X-PIN by sensor model, as airRohr numbers its sensor kinds.
PINS = {
    "SDS011": 1,
    "PMS5003": 1,
    "PMS7003": 1,
    "SPS30": 1,
    "HPM": 1,
    "NextPM": 1,
    "BME280": 11,
    "BMP280": 3,
    "BMP180": 3,
    "SHT3x": 7,
    "SHT4x": 7,
    "HTU21D": 7,
    "DHT22": 7,
    "DNMS": 15,
    "SCD30": 17,
    "SCD4x": 17,
}
# Our quantity -> (Sensor.Community value type, factor from our unit to theirs): the
# unprefixed names of the protocol's table read backwards (a kit posting one sensor at a time
# uses those), so pressure's ×100 is the inverse of that table's hPa scale, never a copy.
VALUE_TYPES: dict[str, tuple[str, float]] = {
    mapping.quantity: (name, 1.0 / mapping.scale)
    for name, mapping in SC_VALUE_TYPES.items()
    if mapping.sensor is None
}
SOFTWARE_VERSION = "lokaalmeten-gateway"
TARGET = "sensorcommunity"  # its name in the node directory's forwarding choices


def requests_for(readings: Sequence[Reading]) -> list[tuple[dict[str, str], bytes]]:
    """(headers, body) of the POSTs that carry these readings, one per node, time and pin."""
    groups: dict[tuple[str, int, int], list[dict[str, str]]] = defaultdict(list)
    for reading in readings:
        pin = PINS.get(reading.sensor or "")
        mapped = VALUE_TYPES.get(reading.quantity)
        if pin is None or mapped is None:
            continue
        value_type, factor = mapped
        groups[(reading.node, reading.time, pin)].append(
            {"value_type": value_type, "value": f"{reading.value * factor:.2f}"}
        )
    return [
        (
            {"X-Sensor": node, "X-PIN": str(pin), "Content-Type": "application/json"},
            json.dumps({"software_version": SOFTWARE_VERSION, "sensordatavalues": values}).encode(),
        )
        for (node, _, pin), values in sorted(groups.items())
    ]


class SensorCommunityForwarder:
    """A write-only output of the gateway that posts to the Sensor.Community API."""

    def __init__(
        self,
        endpoint: str,
        nodes: Sequence[str],
        max_age: float = 600.0,
        timeout: float = 20.0,
        chosen: OptIns | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.kits = frozenset(nodes)  # the kits whose owners chose to forward, in the URL
        self.chosen = chosen  # ... and in the node directory
        self.max_age = max_age
        self.url = "sensorcommunity+" + endpoint
        self._client = httpx.Client(timeout=timeout)

    def write(self, readings: Sequence[Reading]) -> WriteResult:
        oldest = time.time() - self.max_age
        kits = self.kits | self.chosen.current().keys() if self.chosen else self.kits
        chosen = [r for r in readings if r.node in kits and r.time >= oldest]
        sent = 0
        for headers, body in requests_for(chosen):
            try:
                response = self._client.post(self.endpoint, content=body, headers=headers)
            except httpx.HTTPError as exc:
                raise StoreError(f"cannot reach Sensor.Community ({self.endpoint}): {exc}") from exc
            if response.status_code >= 500:
                raise StoreError(f"Sensor.Community answered {response.status_code}")
            if response.status_code >= 400:
                log.warning(
                    "Sensor.Community refused %s (pin %s): HTTP %d %s",
                    headers["X-Sensor"],
                    headers["X-PIN"],
                    response.status_code,
                    response.text[:200],
                )
                continue
            sent += len(json.loads(body)["sensordatavalues"])
        return WriteResult(received=len(readings), stored=sent)

    def close(self) -> None:
        self._client.close()
        if self.chosen is not None:
            self.chosen.close()


def open_forwarder(url: str, registry: Path | None = None) -> SensorCommunityForwarder:
    """``sensorcommunity+https://host/path[?nodes=a,b][&max_age=600]``; with ``registry``,
    the kits chosen in its node directory are forwarded too."""
    parts = urlsplit(url)
    scheme = parts.scheme.removeprefix("sensorcommunity+")
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    nodes = [n for n in options.get("nodes", "").split(",") if n]
    if scheme not in ("http", "https") or not parts.netloc:
        raise StoreError(
            f"{url!r}: write sensorcommunity+https://api.sensor.community"
            "/v1/push-sensor-data/?nodes=esp32-…"
        )
    if not nodes and registry is None:
        raise StoreError(f"{url!r}: name the kits to forward, ?nodes=esp32-0a1b2c,esp32-…")
    try:
        max_age = float(options.get("max_age", "600"))
    except ValueError:
        raise StoreError(f"{url!r}: max_age must be a number of seconds") from None
    endpoint = f"{scheme}://{parts.netloc}{parts.path or '/'}"
    chosen = OptIns(registry, TARGET) if registry is not None else None
    return SensorCommunityForwarder(endpoint, nodes, max_age, chosen=chosen)


def open_output(url: str, registry: Path | None = None) -> Output:
    """The forwarder as one of the gateway's outputs (registered in gateway/outputs.py)."""
    return open_forwarder(url, registry)
