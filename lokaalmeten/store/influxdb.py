"""InfluxDB 1.x store: line protocol to ``/write``, InfluxQL on ``/query``.

These two endpoints work on every InfluxDB from Debian's 1.6.7 to 3 Core (2.x with DBRP
mappings), unlike ``/api/v2``. Layout: one measurement per quantity (``pm25``, ...), tags
``node`` and ``sensor``, fields ``value`` (float) and ``flags`` (integer), time in seconds. A
point's identity is measurement + tags + time, so a re-sent reading overwrites itself::

    store = InfluxDBStore("http://127.0.0.1:8086", "lokaalmeten")
    store.write([Reading("kit-1", "pm25", 1795824000, 7.5, "SDS011")])

Nothing is contacted when the store is opened: a gateway starts while InfluxDB is down and
keeps readings in its spool until it is back. The database is created on the first write.

The change log (for the server's live stream, :meth:`Store.changes`) lives in a retention
policy of its own, ``lm_changes`` (7 days): InfluxDB keeps no order of arrival, so each
write also records its batch there, under positions the writer hands out (nanoseconds that
only grow, as point times). See :mod:`lokaalmeten.store.influx_changes`.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from typing import Any
from urllib.parse import SplitResult, unquote

import httpx

from lokaalmeten.node_meta import NodeMeta
from lokaalmeten.protocol.quantities import QUANTITIES
from lokaalmeten.readings import EXCLUDED_FROM_AGGREGATES, Reading
from lokaalmeten.store import influx_changes
from lokaalmeten.store.base import (
    Aggregate,
    AggregateQuery,
    ChangesGone,
    ChangesUnsupported,
    HourlyEnergy,
    NodeSummary,
    ReadingQuery,
    Store,
    StoreError,
    StoreRejected,
    StoreTooLarge,
    StreamBatch,
    StreamRow,
    Tag,
    WriteResult,
)

# InfluxDB keeps time as int64 nanoseconds: about 1677 to 2262.
_TIME_MIN = -(2**63 - 1) // 10**9 + 1
_TIME_MAX = (2**63 - 1) // 10**9 - 1

# Readings counted in aggregates and those left out (flags is an integer field; InfluxQL
# has bitwise operators on integers since 1.3).
_COUNTED = f'"flags" & {EXCLUDED_FROM_AGGREGATES} = 0'
_LEFT_OUT = f'"flags" & {EXCLUDED_FROM_AGGREGATES} != 0'

# Every quantity's measurement in one FROM, as a regular expression of their exact names: a
# query over all of them needs no SHOW MEASUREMENTS first (a name without data matches none).
_QUANTITY_SOURCES = "/^(" + "|".join(re.escape(q) for q in QUANTITIES) + ")$/"
_SKIPPED = "not executed"
_META = "lm_node_meta"  # older versions' node metadata (now in the node directory)

_TAG_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "=": r"\="})


def _tag(value: str) -> str:
    return value.translate(_TAG_ESCAPES)


def _quote(text: str) -> str:
    """An InfluxQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _value(
    method: str, n: int, total: float, low: float | None, high: float | None, energy: float
) -> float | None:
    """A window's value by its quantity's aggregation, as the SQLite store computes it."""
    if n == 0 or method == "none":
        return None
    if method == "mean":
        return total / n
    if method == "energetic_mean":
        return 10.0 * math.log10(energy / n) if energy > 0 else None
    found = high if method == "max" else low
    return None if found is None else float(found)


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
        change_log: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.database = database
        self.url = f"influxdb://{self.base_url.split('://', 1)[1]}/{database}"
        auth = (username, password or "") if username else None
        self._client = httpx.Client(base_url=self.base_url, auth=auth, timeout=timeout)
        self._created = False
        self._lock = threading.Lock()
        self.change_log = change_log
        self._changes_lock = threading.Lock()
        # The newest change position handed out, once read from the log (None: not yet).
        self._position: int | None = None

    # -- writing -------------------------------------------------------------------------

    def write(self, readings: Sequence[Reading]) -> WriteResult:
        if not readings:
            return WriteResult(0, 0)
        kept = [r for r in readings if math.isfinite(r.value)]
        self._write_lines("\n".join(line(r) for r in kept).encode())
        # Only once the readings are stored: a change the log shows is a reading one can
        # fetch, and a batch that failed halfway is sent again whole by the gateway, its
        # readings then logged (perhaps a second time: at least once, never none).
        if self.change_log and kept:
            self._log_changes(kept)
        # InfluxDB does not say which points were new: repeats overwrite themselves.
        return WriteResult(received=len(readings), stored=len(readings))

    def _write_lines(self, body: bytes, rp: str | None = None) -> None:
        """POST line protocol (precision s; ns into the change log's retention policy); the
        database and the change log's policy are created when missing."""
        params = {"db": self.database, "precision": "ns" if rp else "s"}
        if rp:
            params["rp"] = rp
        response = self._request("POST", "/write", params=params, content=body)
        if response.status_code == 404 and "database not found" in response.text:
            self._create_database()
            response = self._request("POST", "/write", params=params, content=body)
        if rp and response.status_code == 500 and "retention policy not found" in response.text:
            self._query(influx_changes.create_policy(self.database), method="POST")
            response = self._request("POST", "/write", params=params, content=body)
        if rp and response.status_code == 400:
            # Not the readings' fault (they are stored): a plain error, so that the gateway
            # retries rather than quarantining stored readings.
            raise StoreError(
                f"{self.url}: the change log refused a write: {response.text.strip()[:300]} "
                "(is this machine's clock right? changes=off in the store URL turns it off)"
            )
        self._raise_for_write(response)

    def _create_database(self) -> None:
        with self._lock:
            if not self._created:
                statements = [f"CREATE DATABASE {_identifier(self.database)}"]
                if self.change_log:
                    statements.append(influx_changes.create_policy(self.database))
                self._queries(statements, method="POST")
                self._created = True

    def _log_changes(self, readings: Sequence[Reading]) -> None:
        # One batch at a time from this store, its points in position order, each
        # acknowledged before the next: a reader never sees a later one before an earlier.
        with self._changes_lock:
            if self._position is None:
                self._position = self._newest_position()
            before = self._position
            first = max(time.time_ns(), before + 1)
            # Spent before sending: a failed write's positions are never handed out again.
            self._position = first + len(readings) - 1
            for point in influx_changes.chunks(readings, first, before):
                self._write_lines(point, influx_changes.POLICY)

    def _newest_position(self) -> int:
        """The newest position any writer of this database handed out (0 for none): a
        restarted or second writer goes on from there, even if its clock is behind."""
        found = self._change_queries([influx_changes.newest()])
        return 0 if found is None else influx_changes.head(found[0])

    def _change_queries(self, statements: Sequence[str]) -> list[list[dict[str, Any]]] | None:
        """Statements on the change log (times in nanoseconds), or None when the database has
        no change log (nothing was written with it on)."""
        try:
            found = self._queries(statements, method="POST", epoch="ns")
            if len(statements) > 1 and not any(found):
                # Several statements that failed before any ran say only "not executed",
                # which _queries takes for "nothing written yet"; the first alone says why.
                self._queries(statements[:1], method="POST", epoch="ns")
            return found
        except StoreError as exc:
            if "retention policy not found" in str(exc):
                return None
            raise

    def _change_log(self, statements: Sequence[str]) -> tuple[int, int, list[dict[str, Any]]]:
        """The head, the position the log is complete after, and the answer of one more
        statement, in one request; raises ChangesUnsupported without a log."""
        if not self.change_log:
            raise ChangesUnsupported(influx_changes.TURNED_OFF)
        found = self._change_queries(
            [influx_changes.newest(), influx_changes.oldest(), *statements]
        )
        if found is None:
            raise ChangesUnsupported(influx_changes.NEVER_WRITTEN)
        newest = influx_changes.head(found[0])
        return newest, influx_changes.complete_after(found[1], newest), found[2]

    def changes(
        self, after: int, nodes: tuple[str, ...], quantities: tuple[str, ...], limit: int
    ) -> tuple[list[tuple[int, Reading]], int]:
        # A few points first, more while the page is not full: a catching-up subscriber's
        # point holds a whole batch (often more than a page), a live one's a handful.
        count = influx_changes.FIRST_READ
        newest, kept_after, answer = self._change_log([influx_changes.after(after, count)])
        if after < kept_after:
            raise ChangesGone(
                f"position {after} is older than the change log, which holds the readings "
                f"stored after position {kept_after} (it keeps {influx_changes.KEPT})"
            )
        found: list[tuple[int, Reading]] = []
        reached, read = after, 0
        while True:
            points = influx_changes.rows(answer)
            for change in influx_changes.readings(points, after, nodes, quantities):
                found.append(change)
                if len(found) == limit:
                    return found, change[0]  # a full page stops at its last change
            if points:
                reached, read = points[-1][0], read + len(points)
            # Every point read was read to its end; fewer than asked for: the head is reached.
            if len(points) < count:
                return found, max(reached, newest)
            if read >= influx_changes.MOST_READ:
                return found, reached
            count = min(count * 4, influx_changes.MOST_READ - read)
            more = self._change_queries([influx_changes.after(reached, count)])
            answer = more[0] if more else []

    def change_known(self, position: int) -> bool:
        # Positions are nanoseconds, far apart between batches: an id a client made up is
        # almost never one. Every id the stream sends is 0 (an empty log), a change's
        # position or the head; the change just before the log's start may be gone already.
        if position == 0:
            return True
        _, kept_after, answer = self._change_log([influx_changes.holding(position)])
        held = influx_changes.rows(answer)
        if held and influx_changes.first_position(*held[0]) <= position:
            return True
        return position == kept_after

    def change_head(self) -> int:
        if not self.change_log:
            raise ChangesUnsupported(influx_changes.TURNED_OFF)
        found = self._change_queries([influx_changes.newest()])
        if found is None:
            raise ChangesUnsupported(influx_changes.NEVER_WRITTEN)
        return influx_changes.head(found[0])

    def change_point(self) -> int | None:
        # The change log's head moves with every batch, and only once its readings are
        # stored (write()): one short query. A store without a log cannot tell.
        if not self.change_log:
            return None
        found = self._change_queries([influx_changes.newest()])
        return None if found is None else influx_changes.head(found[0])

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
        return self._queries([statement], method)[0]

    def _queries(
        self, statements: Sequence[str], method: str = "GET", epoch: str = "s"
    ) -> list[list[dict[str, Any]]]:
        """Run several InfluxQL statements in one HTTP request (one round trip, however many
        statements); returns each statement's series, in order."""
        params = {"db": self.database, "q": ";".join(statements), "epoch": epoch}
        if method == "POST":
            response = self._request("POST", "/query", data=params)
        else:
            response = self._request("GET", "/query", params=params)
        if response.status_code != 200:
            raise StoreError(f"{self.url}: HTTP {response.status_code}: {response.text[:300]}")
        results = response.json()["results"]
        errors = [result["error"] for result in results if "error" in result]
        # Nothing written yet: InfluxDB 1.6 says "database not found" for a lone statement,
        # but only "not executed" for the first of several (nothing before it could fail).
        if errors and ("database not found" in errors[0] or results[0].get("error") == _SKIPPED):
            return [[] for _ in statements]
        if errors:
            raise StoreError(f"{self.url}: {errors[0]}")
        found: list[list[dict[str, Any]]] = [result.get("series", []) for result in results]
        return found + [[] for _ in statements[len(found) :]]

    def nodes(self) -> list[NodeSummary]:
        # One request: each node's first and last time, and its counts by sensor (which give
        # the sensors too), over every quantity's measurement at once.
        first, last, counts = self._queries(
            [
                f'SELECT first("value") FROM {_QUANTITY_SOURCES} GROUP BY "node"',
                f'SELECT last("value") FROM {_QUANTITY_SOURCES} GROUP BY "node"',
                f'SELECT count("value") FROM {_QUANTITY_SOURCES} GROUP BY "node", "sensor"',
            ]
        )
        stats: dict[str, dict[str, Any]] = {}
        for series in counts:
            node = series["tags"]["node"]
            entry = stats.setdefault(
                node, {"quantities": set(), "sensors": set(), "first": [], "last": [], "count": 0}
            )
            entry["quantities"].add(series["name"])
            if series["tags"].get("sensor"):
                entry["sensors"].add(series["tags"]["sensor"])
            entry["count"] += int(series["values"][0][1])
        for key, found in (("first", first), ("last", last)):
            for series in found:
                stats[series["tags"]["node"]][key].append(int(series["values"][0][0]))
        return [
            NodeSummary(
                node=node,
                quantities=tuple(sorted(entry["quantities"], key=list(QUANTITIES).index)),
                sensors=tuple(sorted(entry["sensors"])),
                first_time=min(entry["first"]),
                last_time=max(entry["last"]),
                readings=entry["count"],
            )
            for node, entry in sorted(stats.items())
        ]

    def readings(self, query: ReadingQuery) -> list[Reading]:
        # Two requests whatever the number of streams: their names, then one chunked request
        # holding a statement per stream (each stops at the limit), read only as far as the
        # page needs; the streams after it are never sent.
        if query.limit <= 0:
            return []
        found: list[Reading] = []
        chunks = self.stream_each(
            self.streams(query.nodes, query.quantities),
            query,
            batch=min(query.limit, 10_000),
            each=query.limit,
        )
        with closing(chunks):
            for chunk in chunks:
                for moment, value, tag in chunk.rows:
                    sensor, flags = chunk.tags[tag]
                    found.append(Reading(chunk.node, chunk.quantity, moment, value, sensor, flags))
                    if len(found) >= query.limit:
                        return found
        return found

    @staticmethod
    def _node_condition(nodes: Sequence[str]) -> str:
        if not nodes:
            return ""
        # A stored node id holds no NUL (the area filter's match-nothing id is one), and an
        # InfluxQL string literal cannot carry it: such ids are left out, and with none left
        # the condition is an empty id, which no stored series has.
        named = [n for n in nodes if "\x00" not in n] or [""]
        return " AND (" + " OR ".join(f'"node" = {_quote(n)}' for n in named) + ")"

    def stream(
        self, query: ReadingQuery, batch: int = 10_000
    ) -> Generator[StreamBatch, None, None]:
        # One stream named (as a SensorThings page asks): no need to list the streams first;
        # a stream without readings answers no rows.
        named = len(query.nodes) == len(query.quantities) == 1 and query.quantities[0] in QUANTITIES
        chosen = [(query.nodes[0], query.quantities[0])] if named else None
        yield from self.stream_each(
            chosen or self.streams(query.nodes, query.quantities), query, batch
        )

    def stream_each(
        self,
        streams: Sequence[tuple[str, str]],
        query: ReadingQuery,
        batch: int = 10_000,
        each: int | None = None,
    ) -> Generator[StreamBatch, None, None]:
        # One chunked request, a statement per stream: InfluxDB runs them in order and sends
        # JSON documents of ``batch`` points each as it reads them, so neither side holds the
        # whole answer, and closing early stops the reading.
        picked: list[tuple[str, str]] = []
        statements: list[str] = []
        for node, quantity in streams:
            window = query.window(
                node, quantity, max(query.start, _TIME_MIN), min(query.end, _TIME_MAX)
            )
            if window is None or quantity not in QUANTITIES:
                continue
            statement = _stream_select(node, quantity, *window, query.descending)
            picked.append((node, quantity))
            statements.append(statement if each is None else f"{statement} LIMIT {each}")
        if not statements:
            return
        tags: dict[int, Tag] = {}
        codes: dict[Tag, int] = {}
        with closing(self._chunks(statements, batch)) as chunks:
            for index, series in chunks:
                rows: list[StreamRow] = []
                for moment, value, flags, sensor in series["values"]:
                    key = (sensor or None, int(flags or 0))
                    tag = codes.get(key)
                    if tag is None:
                        tag = codes[key] = len(codes)
                        tags[tag] = key
                    rows.append((int(moment), float(value), tag))
                yield StreamBatch(*picked[index], rows, tags)

    def _chunks(
        self, statements: Sequence[str], batch: int
    ) -> Generator[tuple[int, dict[str, Any]], None, None]:
        """The series of several statements sent as one chunked request (POST: a statement
        per stream makes a long text), as InfluxDB sends them: (statement index, series)."""
        params = {
            "db": self.database,
            "q": ";".join(statements),
            "epoch": "s",
            "chunked": "true",
            "chunk_size": str(batch),
        }
        try:
            with self._client.stream("POST", "/query", data=params) as response:
                if response.status_code != 200:
                    response.read()
                    raise StoreError(
                        f"{self.url}: HTTP {response.status_code}: {response.text[:300]}"
                    )
                for text in response.iter_lines():
                    if not text:
                        continue
                    result = json.loads(text)["results"][0]
                    error = result.get("error")
                    # Nothing written yet: the database is missing (and the rest not executed).
                    if error is not None and ("database not found" in error or error == _SKIPPED):
                        return
                    if error is not None:
                        raise StoreError(f"{self.url}: {error}")
                    for series in result.get("series", ()):
                        yield int(result.get("statement_id", 0)), series
        except httpx.HTTPError as exc:
            raise StoreError(f"{self.url}: cannot reach InfluxDB: {exc}") from exc

    def spans(self, nodes: tuple[str, ...] = ()) -> dict[tuple[str, str], tuple[int, int]]:
        # One request: the first and the last point of every (measurement, node) series.
        where = f"WHERE time <= {_TIME_MAX}s{self._node_condition(nodes)}"
        found: dict[tuple[str, str], list[int]] = {}
        statements = [
            f'SELECT {function}("value") FROM {_QUANTITY_SOURCES} {where} GROUP BY "node"'
            for function in ("first", "last")
        ]
        for position, result in enumerate(self._queries(statements)):
            for series in result:
                key = (series["tags"]["node"], series["name"])
                found.setdefault(key, [0, 0])[position] = int(series["values"][0][0])
        return {key: (span[0], span[1]) for key, span in sorted(found.items())}

    def count(self, query: ReadingQuery) -> int:
        # One request: a count per measurement asked for, summed.
        wanted = [q for q in QUANTITIES if not query.quantities or q in query.quantities]
        if not wanted:
            return 0
        sources = "/^(" + "|".join(re.escape(q) for q in wanted) + ")$/"
        start, end = max(query.start, _TIME_MIN), min(query.end, _TIME_MAX)
        statement = (
            f'SELECT count("value") FROM {sources} WHERE time >= {start}s '
            f"AND time < {end}s{self._node_condition(query.nodes)}"
        )
        return sum(
            int(row[1])
            for series in self._query(statement, method="POST")
            for row in series["values"]
        )

    def counts(self, query: ReadingQuery) -> dict[tuple[str, str], int]:
        # One request: a count per (measurement, node) series.
        wanted = [q for q in QUANTITIES if not query.quantities or q in query.quantities]
        if not wanted:
            return {}
        sources = "/^(" + "|".join(re.escape(q) for q in wanted) + ")$/"
        start, end = max(query.start, _TIME_MIN), min(query.end, _TIME_MAX)
        statement = (
            f'SELECT count("value") FROM {sources} WHERE time >= {start}s '
            f'AND time < {end}s{self._node_condition(query.nodes)} GROUP BY "node"'
        )
        found = {
            (series["tags"]["node"], series["name"]): int(series["values"][0][1])
            for series in self._query(statement, method="POST")
        }
        return dict(sorted(found.items()))

    def streams(
        self, nodes: tuple[str, ...] = (), quantities: tuple[str, ...] = ()
    ) -> list[tuple[str, str]]:
        # One request: SHOW TAG VALUES answers a series per measurement, naming its nodes.
        statement = f'SHOW TAG VALUES FROM {_QUANTITY_SOURCES} WITH KEY = "node"'
        found = [
            (row[1], series["name"])
            for series in self._query(statement)
            if not quantities or series["name"] in quantities
            for row in series["values"]
            if not nodes or row[1] in nodes
        ]
        return sorted(found)

    def aggregates(self, query: AggregateQuery) -> list[Aggregate]:
        # Two requests whatever the number of nodes and quantities: the streams, then every
        # statement for every quantity at once (POST: the node conditions make it long).
        # A cursor's stream reads from after it, the streams before it not at all; with a
        # limit every statement stops at that many windows a series (the first ``limit`` of
        # a stream are among the first ``limit`` of each statement).
        by_quantity: dict[tuple[str, int, int], list[str]] = {}
        for node, quantity in self.streams(query.nodes, query.quantities):
            chosen = query.span(node, quantity)
            if chosen is not None:
                first, stop = max(chosen[0], _TIME_MIN), min(chosen[1], _TIME_MAX)
                by_quantity.setdefault((quantity, first, stop), []).append(node)
        limit = "" if query.limit is None else f" LIMIT {query.limit}"
        window = f'GROUP BY time({query.window}s), "node" fill(none){limit}'
        # [readings, sum, min, max, valid hours, excluded, energy] per window
        found: dict[tuple[str, str, int], list[Any]] = {}

        def entry(series: dict[str, Any], moment: int) -> list[Any]:
            key = (series["tags"]["node"], series["name"], int(moment))
            if key not in found:
                found[key] = [0, 0.0, None, None, 0, 0, 0.0]
            return found[key]

        def counted(series: dict[str, Any]) -> None:
            for moment, count, total, low, high in series["values"]:
                entry(series, moment)[:4] = [int(count), float(total), low, high]

        def left_out(series: dict[str, Any]) -> None:
            for moment, count in series["values"]:
                entry(series, moment)[5] = int(count)

        def energy(series: dict[str, Any]) -> None:
            for moment, energy, _ in series["values"]:
                entry(series, moment)[6] = float(energy)

        def valid(series: dict[str, Any]) -> None:
            for moment, hours in series["values"]:
                entry(series, moment)[4] = int(hours)

        statements: list[str] = []
        handlers: list[Callable[[dict[str, Any]], None]] = []
        for (quantity, start, end), nodes in sorted(by_quantity.items()):
            source = _identifier(quantity)
            span = f"time >= {start}s AND time < {end}s"
            where = f"{span}{self._node_condition(nodes)}"
            statements.append(
                f'SELECT count("value"), sum("value"), min("value"), max("value") FROM {source} '
                f"WHERE {where} AND {_COUNTED} {window}"
            )
            handlers.append(counted)
            statements.append(
                f'SELECT count("value") FROM {source} WHERE {where} AND {_LEFT_OUT} {window}'
            )
            handlers.append(left_out)
            if QUANTITIES[quantity].aggregation == "energetic_mean":
                statements.append(self._energy(source, where, window))
                handlers.append(energy)
            # Valid hours: hours with at least the node's threshold of counted readings.
            by_threshold: dict[int, list[str]] = {}
            for node in nodes:
                by_threshold.setdefault(query.threshold(node), []).append(node)
            for threshold, group in by_threshold.items():
                statements.append(
                    f'SELECT count("n") FROM (SELECT count("value") AS "n" FROM {source} '
                    f"WHERE {span}{self._node_condition(group)} AND {_COUNTED} "
                    f'GROUP BY time(1h), "node" fill(none)) WHERE {span} AND "n" >= {threshold} '
                    f"{window}"
                )
                handlers.append(valid)
        if statements:
            for handle, result in zip(
                handlers, self._queries(statements, method="POST"), strict=True
            ):
                for series in result:
                    handle(series)
        windows = sorted(found.items())
        return [
            Aggregate(
                node,
                quantity,
                moment,
                n,
                _value(QUANTITIES[quantity].aggregation, n, total, low, high, energy),
                None if low is None else float(low),
                None if high is None else float(high),
                valid,
                left_out,
            )
            for (node, quantity, moment), (n, total, low, high, valid, left_out, energy) in (
                windows if query.limit is None else windows[: query.limit]
            )
        ]

    @staticmethod
    def _energy(source: str, where: str, window: str) -> str:
        """The sum and count of 10^(L/10) of the counted readings per window and node. Float
        literals: InfluxDB 1.6 divides an integer field by an integer literal as integers."""
        return (
            f'SELECT sum("e"), count("e") FROM (SELECT pow(10.0, "value" / 10.0) AS "e" '
            f'FROM {source} WHERE {where} AND {_COUNTED} GROUP BY "node") WHERE {where} '
            f"{window}"
        )

    def hourly_energy(
        self, nodes: tuple[str, ...], quantity: str, start: int, end: int
    ) -> dict[str, HourlyEnergy]:
        # One request: the quantity's nodes, and their hourly energies.
        first = start - start % 3600
        last = end + (-end) % 3600
        where = f"time >= {first}s AND time < {last}s{self._node_condition(nodes)}"
        source = _identifier(quantity)
        listing, energies = self._queries(
            [
                f'SHOW TAG VALUES FROM {source} WITH KEY = "node"',
                self._energy(source, where, 'GROUP BY time(1h), "node" fill(none)'),
            ],
            method="POST",
        )
        listed = {row[1] for series in listing for row in series["values"]}
        names = sorted(listed & set(nodes) if nodes else listed)
        if not names:
            return {}
        hours = (last - first) // 3600
        found = {n: HourlyEnergy(first, [0] * hours, [0.0] * hours) for n in names}
        for series in energies:
            hourly = found[series["tags"]["node"]]
            for moment, energy, count in series["values"]:
                at = (int(moment) - first) // 3600
                hourly.counts[at] = int(count)
                hourly.energies[at] = float(energy)
        return found

    def latest(self, nodes: tuple[str, ...] = ()) -> list[Reading]:
        # One query over every quantity's measurement: a series per (measurement, node), its
        # last point carrying that point's flags and sensor (a selector keeps its row).
        statement = (
            f'SELECT last("value"), "flags", "sensor" FROM {_QUANTITY_SOURCES} '
            f'WHERE time <= {_TIME_MAX}s{self._node_condition(nodes)} GROUP BY "node"'
        )
        found: list[Reading] = []
        for series in self._query(statement):
            for moment, value, flags, sensor in series["values"]:
                found.append(
                    Reading(
                        series["tags"]["node"],
                        series["name"],
                        int(moment),
                        float(value),
                        sensor or None,
                        int(flags or 0),
                    )
                )
        return sorted(found, key=lambda r: r.identity)

    def legacy_node_meta(self) -> dict[str, NodeMeta]:
        found: dict[str, NodeMeta] = {}
        for series in self._query(f'SELECT * FROM {_identifier(_META)} GROUP BY "node"'):
            columns = series["columns"]
            for row in series["values"]:
                field = dict(zip(columns, row, strict=True))
                node = series["tags"]["node"]
                found[node] = NodeMeta(
                    node,
                    field.get("latitude"),
                    field.get("longitude"),
                    bool(field.get("exact")),
                    field.get("name") or "",
                    field.get("description") or "",
                    field.get("interval"),
                )
        return dict(sorted(found.items()))

    def forget_legacy_node_meta(self) -> None:
        self._query(f"DROP MEASUREMENT {_identifier(_META)}", method="POST")

    def ping(self) -> None:
        response = self._request("GET", "/ping")
        if response.status_code not in (200, 204):
            raise StoreError(f"{self.url}: /ping answered HTTP {response.status_code}")

    def close(self) -> None:
        self._client.close()


def _stream_select(node: str, quantity: str, start: int, end: int, descending: bool) -> str:
    """The readings of one (node, quantity) stream in ``[start, end)``, in time order."""
    return (
        f'SELECT "value", "flags", "sensor" FROM {_identifier(quantity)} '
        f'WHERE "node" = {_quote(node)} AND time >= {start}s AND time < {end}s '
        f"ORDER BY time {'DESC' if descending else 'ASC'}"
    )


def open_url(
    url: str, parts: SplitResult, options: dict[str, str], read_only: bool
) -> InfluxDBStore:
    """``influxdb[s]://[user[:password]@]host[:port]/database`` (see lokaalmeten.store).

    ``read_only`` is not used: the InfluxDB HTTP API has no read-only session to open.
    """
    database = unquote(parts.path.strip("/"))
    if not parts.hostname or not database or "/" in database:
        raise StoreError(
            f"{url!r}: write influxdb://[user[:password]@]host[:port]/database, "
            "e.g. influxdb://127.0.0.1:8086/lokaalmeten"
        )
    unknown = set(options) - {"timeout", "changes"}
    if unknown:
        raise StoreError(
            f"{url!r}: unknown option(s) {', '.join(sorted(unknown))}; influxdb URLs take "
            "timeout and changes"
        )
    changes = options.get("changes", "on")
    if changes not in ("on", "off"):
        raise StoreError(f"{url!r}: changes is on (the default: keep a change log) or off")
    try:
        port = parts.port or 8086
        timeout = float(options.get("timeout", "30"))
    except ValueError:
        raise StoreError(f"{url!r}: the port and timeout must be numbers") from None
    scheme = "https" if parts.scheme == "influxdbs" else "http"
    password = unquote(parts.password) if parts.password else os.environ.get("LM_INFLUXDB_PASSWORD")
    return InfluxDBStore(
        f"{scheme}://{parts.hostname}:{port}",
        database,
        username=unquote(parts.username) if parts.username else None,
        password=password,
        timeout=timeout,
        change_log=changes == "on",
    )
