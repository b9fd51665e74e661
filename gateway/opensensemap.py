"""Optional output: send the readings of kits whose owners chose it to openSenseMap.

The owner registers a senseBox on openSenseMap with a sensor for each quantity and gives
the operator its ids and access token; the operator records the choice in the node
directory, and the gateway's output sends from then on::

    lokaalmeten forward add esp32-0a1b2c opensensemap --box 5f0c… --token … \\
        --sensor pm25=5f0c…a1 --sensor pm10=5f0c…a2 --sensor temperature=5f0c…a3
    lokaalmeten gateway --extra-store "opensensemap+https://api.opensensemap.org/"

Readings go as openSenseMap's documented upload of several measurements
(https://docs.opensensemap.org/#api-Measurements-postNewMeasurements): ``POST
/boxes/<box>/data`` with a JSON array of ``{"sensor", "value", "createdAt"}`` and the box's
access token in ``Authorization``, at most 2500 measurements a request, answered 201. A
reading keeps its own time (``createdAt``), so a backlog after an outage is sent late rather
than lost. Readings with a quality flag that leaves them out of aggregates (a stuck or
implausible value, PM in fog) are not sent: a public map has no column for the flag.

Like every output it has its own spool cursor. A refusal (4xx but 429) is logged and those
readings are dropped for this output only; openSenseMap out of reach, a 5xx or a 429 is an
outage the writer waits out with the readings in the spool.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from lokaalmeten.gateway.opt_ins import OptIns
from lokaalmeten.gateway.writer import Output
from lokaalmeten.readings import EXCLUDED_FROM_AGGREGATES, Reading, iso_utc
from lokaalmeten.store import StoreError, WriteResult

log = logging.getLogger("lokaalmeten.gateway")

TARGET = "opensensemap"
MAX_PER_REQUEST = 2500  # the API's limit for one upload


def measurements_for(
    readings: Sequence[Reading], choices: dict[str, dict[str, object]]
) -> dict[tuple[str, str], list[dict[str, str]]]:
    """The measurements of these readings by (box, token), for the kits in ``choices``
    whose sensor ids name the reading's quantity."""
    boxes: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for reading in readings:
        choice = choices.get(reading.node)
        if choice is None or reading.flags & EXCLUDED_FROM_AGGREGATES:
            continue
        sensors = choice.get("sensors")
        sensor = sensors.get(reading.quantity) if isinstance(sensors, dict) else None
        if not isinstance(sensor, str):
            continue
        boxes[(str(choice["box"]), str(choice["token"]))].append(
            # The API takes a value as a string or a number; a string keeps its digits.
            {"sensor": sensor, "value": f"{reading.value:g}", "createdAt": iso_utc(reading.time)}
        )
    return boxes


class OpenSenseMapForwarder:
    """A write-only output of the gateway that uploads to openSenseMap."""

    def __init__(self, endpoint: str, chosen: OptIns, timeout: float = 20.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.chosen = chosen
        self.url = f"opensensemap+{endpoint}"
        self._client = httpx.Client(timeout=timeout)

    def write(self, readings: Sequence[Reading]) -> WriteResult:
        sent = 0
        for (box, token), measurements in sorted(
            measurements_for(readings, self.chosen.current()).items()
        ):
            for start in range(0, len(measurements), MAX_PER_REQUEST):
                part = measurements[start : start + MAX_PER_REQUEST]
                if self._post(box, token, part):
                    sent += len(part)
        return WriteResult(received=len(readings), stored=sent)

    def _post(self, box: str, token: str, measurements: list[dict[str, str]]) -> bool:
        where = f"{self.endpoint}/boxes/{box}/data"
        try:
            response = self._client.post(
                where,
                content=json.dumps(measurements).encode(),
                headers={"Authorization": token, "Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise StoreError(f"cannot reach openSenseMap ({self.endpoint}): {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise StoreError(f"openSenseMap answered {response.status_code} for box {box}")
        if response.status_code >= 400:
            log.warning(
                "openSenseMap refused %d measurements for box %s: HTTP %d %s",
                len(measurements),
                box,
                response.status_code,
                response.text[:200],
            )
            return False
        return True

    def close(self) -> None:
        self._client.close()
        self.chosen.close()


def open_output(url: str, registry: Path | None = None) -> Output:
    """``opensensemap+https://api.opensensemap.org/``; the kits and their boxes are the
    owners' choices in ``registry``'s node directory."""
    parts = urlsplit(url)
    scheme = parts.scheme.removeprefix("opensensemap+")
    if scheme not in ("http", "https") or not parts.netloc:
        raise StoreError(f"{url!r}: write opensensemap+https://api.opensensemap.org/")
    if registry is None:
        raise StoreError(f"{url!r}: the kits to forward are chosen in the registry's directory")
    endpoint = f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    return OpenSenseMapForwarder(endpoint, OptIns(registry, TARGET))
