"""Reference-station data as a municipality downloads it: Luchtmeetnet's open API JSON, or CSV.

Three kinds of file, told apart by their content::

    read_reference(Path("NL10636-pm25.json"))   # /open_api/measurements?station_number=…
    read_reference(Path("stations.json"))       # /open_api/stations/NL10636 (or a list)
    read_reference(Path("utrecht-2026-11.csv")) # station;time;component;value[;latitude;longitude]

Luchtmeetnet JSON (api.luchtmeetnet.nl/open_api): measurements are ``{"data": [{"station_number",
"value", "timestamp_measured", "formula"}, …]}``; a station is ``{"data": {"number",
"location", "geometry": {"coordinates": [longitude, latitude]}}}`` (the list of stations holds
several). Luchtmeetnet stamps an hourly mean with the *end* of its hour; the CSV's ``time``
column is read the same way, and a CSV with an ``hour_start`` column instead stamps starts.
Inside, every value is kept by the start of its hour, as the store's hourly aggregates are.

Only PM2.5 (``PM25``) and PM10 are taken; other components (NO2, O3, …) in the same download
are counted and left out. A file that cannot be read is refused whole, with one line naming
the file, the line (or the JSON item) and what is wrong: nothing of it is imported.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

_STATION_ID = re.compile(r"^NL\d{5}$")
# Luchtmeetnet's formula (component) names, and those a CSV may use, to our quantities.
COMPONENTS = {"pm25": "pm25", "pm2.5": "pm25", "pm2,5": "pm25", "pm10": "pm10"}


class ReferenceError(ValueError):
    """A reference file that cannot be imported; the message is one line: file, place, why."""


@dataclass(frozen=True, slots=True)
class Station:
    number: str
    name: str
    latitude: float
    longitude: float


class ReferenceValue(NamedTuple):
    station: str
    quantity: str  # pm25 or pm10
    hour: int  # start of the hour, epoch seconds UTC
    value: float  # µg/m³


@dataclass
class ReferenceFile:
    path: Path
    stations: list[Station] = field(default_factory=list)
    values: list[ReferenceValue] = field(default_factory=list)
    other_components: int = 0  # values of components other than PM, left out
    missing: int = 0  # values the source gave as null (no measurement that hour)


def read_reference(path: Path) -> ReferenceFile:
    """The stations and hourly PM values of one file; ReferenceError if any part is bad."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ReferenceError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise ReferenceError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ReferenceError(f"{path}: cannot read it: {exc.strerror}") from None
    if not text.strip():
        raise ReferenceError(f"{path}: the file is empty")
    if text.lstrip()[:1] in "{[":
        return _read_json(path, text)
    return _read_csv(path, text)


def _read_json(path: Path, text: str) -> ReferenceFile:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReferenceError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(document, dict) or "data" not in document:
        raise ReferenceError(
            f"{path}:1: no 'data' member: expected Luchtmeetnet open API JSON "
            "(/open_api/measurements or /open_api/stations)"
        )
    data = document["data"]
    items = [data] if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ReferenceError(f"{path}: 'data' must be a list or an object")
    result = ReferenceFile(path)
    for index, item in enumerate(items):
        where = f"{path}: data[{index}]" if isinstance(data, list) else f"{path}: data"
        if not isinstance(item, dict):
            raise ReferenceError(f"{where}: expected an object, found {type(item).__name__}")
        if "geometry" in item or ("number" in item and "station_number" not in item):
            # /open_api/stations/NL10636 answers without the number it was asked for: a
            # single station saved as NL10636.json takes it from the file's name.
            named = path.stem if isinstance(data, dict) and _STATION_ID.match(path.stem) else None
            result.stations.append(_json_station(item, where, named))
        else:
            _json_measurement(item, where, result)
    return result


def _json_station(item: dict[str, Any], where: str, named: str | None) -> Station:
    number = item.get("number", named)
    if not isinstance(number, str) or not number:
        raise ReferenceError(
            f"{where}: the station has no 'number': add it, or save a single station's "
            "file under its number (NL10636.json)"
        )
    coordinates = (item.get("geometry") or {}).get("coordinates")
    if (
        not isinstance(coordinates, list)
        or len(coordinates) < 2
        or not all(isinstance(c, int | float) for c in coordinates[:2])
    ):
        raise ReferenceError(
            f"{where}: station {number} has no geometry.coordinates [longitude, latitude]"
        )
    longitude, latitude = float(coordinates[0]), float(coordinates[1])
    _check_place(latitude, longitude, where)
    return Station(number, str(item.get("location") or number), latitude, longitude)


def _json_measurement(item: dict[str, Any], where: str, result: ReferenceFile) -> None:
    for key in ("station_number", "value", "timestamp_measured", "formula"):
        if key not in item:
            raise ReferenceError(
                f"{where}: no '{key}': a measurement has station_number, value, "
                "timestamp_measured and formula"
            )
    quantity = COMPONENTS.get(str(item["formula"]).strip().lower())
    if quantity is None:
        result.other_components += 1
        return
    if item["value"] is None:
        result.missing += 1
        return
    value = item["value"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ReferenceError(f"{where}: value {value!r} is not a number")
    hour = _hour(str(item["timestamp_measured"]), where, end_stamped=True)
    result.values.append(
        ReferenceValue(str(item["station_number"]), quantity, hour, _concentration(value, where))
    )


def _read_csv(path: Path, text: str) -> ReferenceFile:
    first = text.splitlines()[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [name.strip().lower() for name in next(reader)]
    names = {_CSV_NAMES.get(name, name): i for i, name in enumerate(header)}
    stamp = "hour_start" if "hour_start" in names else "time"
    needed = ("station", stamp, "component", "value")
    lacking = [name for name in needed if name not in names]
    if lacking:
        raise ReferenceError(
            f"{path}:1: the header lacks {', '.join(lacking)}: expected the columns "
            "station, time (end of the hour, as Luchtmeetnet stamps it) or hour_start, "
            "component, value, and optionally latitude, longitude, name"
        )
    placed = "latitude" in names and "longitude" in names
    result = ReferenceFile(path)
    seen: dict[str, Station] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        where = f"{path}:{line}"
        if len(row) != len(header):
            raise ReferenceError(f"{where}: {len(row)} fields, the header has {len(header)}")

        def cell(name: str, row: list[str] = row) -> str:
            return row[names[name]].strip()

        station = cell("station")
        if not station:
            raise ReferenceError(f"{where}: no station")
        if placed and cell("latitude"):
            latitude = _number(cell("latitude"), "latitude", where, delimiter)
            longitude = _number(cell("longitude"), "longitude", where, delimiter)
            _check_place(latitude, longitude, where)
            name = cell("name") if "name" in names else station
            here = Station(station, name or station, latitude, longitude)
            if seen.setdefault(station, here) != here:
                raise ReferenceError(f"{where}: station {station} is placed differently above")
        quantity = COMPONENTS.get(cell("component").lower())
        if quantity is None:
            result.other_components += 1
            continue
        if cell("value") == "":
            result.missing += 1
            continue
        value = _concentration(_number(cell("value"), "value", where, delimiter), where)
        hour = _hour(cell(stamp), where, end_stamped=stamp == "time")
        result.values.append(ReferenceValue(station, quantity, hour, value))
    result.stations = list(seen.values())
    return result


_CSV_NAMES = {
    "formula": "component",
    "timestamp_measured": "time",
    "station_number": "station",
    "lat": "latitude",
    "lon": "longitude",
}


def _number(text: str, what: str, where: str, delimiter: str) -> float:
    # A ';'-separated file from a Dutch spreadsheet writes decimals with a comma.
    candidate = text.replace(",", ".") if delimiter == ";" else text
    try:
        number = float(candidate)
    except ValueError:
        raise ReferenceError(f"{where}: {what} {text!r} is not a number") from None
    if not math.isfinite(number):
        raise ReferenceError(f"{where}: {what} {text!r} is not a number")
    return number


def _concentration(value: float, where: str) -> float:
    if value < 0:
        raise ReferenceError(f"{where}: value {value!r} is negative; PM is at least 0 µg/m³")
    return float(value)


def _check_place(latitude: float, longitude: float, where: str) -> None:
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ReferenceError(
            f"{where}: latitude {latitude} / longitude {longitude} out of range "
            "(WGS84 degrees; Luchtmeetnet gives [longitude, latitude])"
        )


def _hour(text: str, where: str, end_stamped: bool) -> int:
    """The start of the hour a timestamp stands for, epoch seconds."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ReferenceError(
            f"{where}: time {text!r} is not ISO 8601; write e.g. 2026-11-28T10:00:00+00:00"
        ) from None
    if moment.tzinfo is None:
        # Dutch downloads are often in local time; guessing would shift every hour.
        raise ReferenceError(
            f"{where}: time {text!r} has no UTC offset; write e.g. 2026-11-28T10:00:00+00:00"
        )
    epoch = int(moment.astimezone(UTC).timestamp())
    if epoch % 3600:
        raise ReferenceError(f"{where}: time {text!r} is not on a whole hour (hourly values)")
    return epoch - 3600 if end_stamped else epoch
