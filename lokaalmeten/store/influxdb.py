"""InfluxDB 1.x store: line protocol to ``/write``, InfluxQL on ``/query``.

These two endpoints work on every InfluxDB from Debian's 1.6.7 to 3 Core (2.x with DBRP
mappings), unlike ``/api/v2``. Layout: one measurement per quantity (``pm25``, ...), tags
``node`` and ``sensor``, fields ``value`` (float) and ``flags`` (integer), time in seconds. A
point's identity is measurement + tags + time, so a re-sent reading overwrites itself::

    store = InfluxDBStore("http://127.0.0.1:8086", "lokaalmeten")
    store.write([Reading("kit-1", "pm25", 1795824000, 7.5, "SDS011")])

Nothing is contacted when the store is opened: a gateway starts while InfluxDB is down and
keeps readings in its spool until it is back. The database is created on the first write.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import httpx

from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.readings import Reading
from lokaalmeten.store.base import (
    NodeSummary,
    ReadingQuery,
    Store,
    StoreError,
    StoreRejected,
    StoreTooLarge,
    WriteResult,
)

# InfluxDB keeps time as int64 nanoseconds: about 1677 to 2262.
_TIME_MIN = -(2**63 - 1) // 10**9 + 1
_TIME_MAX = (2**63 - 1) // 10**9 - 1

_TAG_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "=": r"\="})


def _tag(value: str) -> str:
    return value.translate(_TAG_ESCAPES)


def _quote(text: str) -> str:
    """An InfluxQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def line(reading: Reading) -> str:
    """One reading as a line of line protocol (precision: seconds)."""
    tags = f"node={_tag(reading.node)}"
    if reading.sensor:
        tags += f",sensor={_tag(reading.sensor)}"
    return (
        f"{reading.quantity},{tags} value={reading.value!r},flags={reading.flags}i {reading.time}"
    )


class InfluxDBStore(Store):
    def __init__(
        self,
        base_url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.database = database
        self.url = f"influxdb://{self.base_url.split('://', 1)[1]}/{database}"
        auth = (username, password or "") if username else None
        self._client = httpx.Client(base_url=self.base_url, auth=auth, timeout=timeout)
        self._created = False
        self._lock = threading.Lock()

    # -- writing -------------------------------------------------------------------------

    def write(self, readings: Sequence[Reading]) -> WriteResult:
        if not readings:
            return WriteResult(0, 0)
        body = "\n".join(line(r) for r in readings if math.isfinite(r.value)).encode()
        response = self._request(
            "POST", "/write", params={"db": self.database, "precision": "s"}, content=body
        )
        if response.status_code == 404 and "database not found" in response.text:
            self._create_database()
            response = self._request(
                "POST", "/write", params={"db": self.database, "precision": "s"}, content=body
            )
        self._raise_for_write(response)
        # InfluxDB does not say which points were new: repeats overwrite themselves.
        return WriteResult(received=len(readings), stored=len(readings))

    def _create_database(self) -> None:
        with self._lock:
            if not self._created:
                self._query(f"CREATE DATABASE {_identifier(self.database)}", method="POST")
                self._created = True

    def _raise_for_write(self, response: httpx.Response) -> None:
        status = response.status_code
        if status in (200, 204):
            return
        detail = f"{self.url}: HTTP {status}: {response.text.strip()[:300]}"
        if status == 400:
            raise StoreRejected(detail)
        if status == 413:
            raise StoreTooLarge(detail)
        if status in (401, 403):
            raise StoreError(f"{detail} (check the user and password in the store URL)")
        raise StoreError(detail)

    # -- reading -------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise StoreError(f"{self.url}: cannot reach InfluxDB: {exc}") from exc

    def _query(self, statement: str, method: str = "GET") -> list[dict[str, Any]]:
        """Run InfluxQL; returns the series of the first statement's result."""
        params = {"db": self.database, "q": statement, "epoch": "s"}
        if method == "POST":
            response = self._request("POST", "/query", data=params)
        else:
            response = self._request("GET", "/query", params=params)
        if response.status_code != 200:
            raise StoreError(f"{self.url}: HTTP {response.status_code}: {response.text[:300]}")
        result = response.json()["results"][0]
        if "error" in result:
            if "database not found" in result["error"]:
                return []
            raise StoreError(f"{self.url}: {result['error']}")
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    def _measurements(self) -> list[str]:
        found = {row[0] for s in self._query("SHOW MEASUREMENTS") for row in s["values"]}
        return sorted(q for q in found if q in QUANTITIES)

    def nodes(self) -> list[NodeSummary]:
        measurements = self._measurements()
        if not measurements:
            return []
        sources = ",".join(_identifier(m) for m in measurements)
        stats: dict[str, dict[str, Any]] = {}
        for function in ("first", "last", "count"):
            for series in self._query(f'SELECT {function}("value") FROM {sources} GROUP BY "node"'):
                node = series["tags"]["node"]
                entry = stats.setdefault(
                    node, {"quantities": set(), "first": None, "last": None, "count": 0}
                )
                moment, value = series["values"][0]
                entry["quantities"].add(series["name"])
                if function == "first":
                    entry["first"] = (
                        moment if entry["first"] is None else min(entry["first"], moment)
                    )
                elif function == "last":
                    entry["last"] = moment if entry["last"] is None else max(entry["last"], moment)
                else:
                    entry["count"] += int(value)
        sensors: dict[str, set[str]] = {}
        for node in stats:
            for series in self._query(
                f'SHOW TAG VALUES FROM {sources} WITH KEY = "sensor" WHERE "node" = {_quote(node)}'
            ):
                sensors.setdefault(node, set()).update(row[1] for row in series["values"])
        return [
            NodeSummary(
                node=node,
                quantities=tuple(sorted(entry["quantities"], key=list(QUANTITIES).index)),
                sensors=tuple(sorted(sensors.get(node, ()))),
                first_time=int(entry["first"]),
                last_time=int(entry["last"]),
                readings=entry["count"],
            )
            for node, entry in sorted(stats.items())
        ]

    def readings(self, query: ReadingQuery) -> list[Reading]:
        measurements = self._measurements()
        quantities = sorted(
            q for q in measurements if not query.quantities or q in query.quantities
        )
        if not quantities:
            return []
        nodes = self._node_names(quantities)
        if query.nodes:
            nodes = [n for n in nodes if n in query.nodes]
        end = min(query.end, _TIME_MAX)
        found: list[Reading] = []
        # Identity order, as the SQLite store: node, then quantity name, then time.
        for node in nodes:
            for quantity in quantities:
                start = max(query.start, _TIME_MIN)
                if query.after is not None:
                    if (node, quantity) < query.after[:2]:
                        continue
                    if (node, quantity) == query.after[:2]:
                        start = max(start, query.after[2] + 1)
                remaining = query.limit - len(found)
                if remaining <= 0:
                    return found
                statement = (
                    f'SELECT "value", "flags", "sensor" FROM {_identifier(quantity)} '
                    f'WHERE "node" = {_quote(node)} AND time >= {start}s AND '
                    f"time < {end}s ORDER BY time LIMIT {remaining}"
                )
                for series in self._query(statement):
                    for moment, value, flags, sensor in series["values"]:
                        found.append(
                            Reading(
                                node,
                                quantity,
                                int(moment),
                                float(value),
                                sensor or None,
                                int(flags or 0),
                            )
                        )
        return found

    def _node_names(self, quantities: list[str]) -> list[str]:
        sources = ",".join(_identifier(q) for q in quantities)
        names = {
            row[1]
            for series in self._query(f'SHOW TAG VALUES FROM {sources} WITH KEY = "node"')
            for row in series["values"]
        }
        return sorted(names)

    def close(self) -> None:
        self._client.close()
