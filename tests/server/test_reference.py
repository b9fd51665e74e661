"""/v1/reference/stations, /v1/reference and /v1/export/reference.csv: a reference station's
hourly PM as `lokaalmeten calibrate import` stored it, read from the calibration book only."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from lokaalmeten.server.app import create_app
from lokaalmeten.settings import ServerSettings
from tests.server.conftest import get_ok

# Luchtmeetnet stamps an hourly mean with the end of its hour: 01:00 is the hour 00:00-01:00.
REFERENCE_CSV = """station;time;component;value;latitude;longitude;name
NL10636;2026-11-28T01:00:00Z;PM25;7.5;52.105;5.128;Utrecht-Kardinaal de Jongweg
NL10636;2026-11-28T02:00:00Z;PM25;8.25;52.105;5.128;Utrecht-Kardinaal de Jongweg
NL10636;2026-11-28T03:00:00Z;PM25;9.0;52.105;5.128;Utrecht-Kardinaal de Jongweg
NL10636;2026-11-28T02:00:00Z;PM10;14.0;52.105;5.128;Utrecht-Kardinaal de Jongweg
"""
SPAN = "from=2026-11-28T00:00:00Z&to=2026-11-28T03:00:00Z"


def _client(tmp_path: Path, book: Path) -> TestClient:
    settings = ServerSettings(
        store=f"sqlite:///{tmp_path / 'readings.db'}",
        registry=str(tmp_path / "registry.db"),
        calibration=str(book),
        rate_limit=0,
        max_range_days=366,
    )
    return TestClient(create_app(settings))


def _import(tmp_path: Path, book: Path) -> None:
    """As a municipality does it: the command line, on a downloaded file."""
    source = tmp_path / "utrecht.csv"
    source.write_text(REFERENCE_CSV, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "lokaalmeten", "calibrate", "import", str(source),
         "--calibration", str(book)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_no_book_lists_no_station_and_a_station_is_not_found(tmp_path: Path) -> None:
    with _client(tmp_path, tmp_path / "none.db") as client:
        assert get_ok(client, "/v1/reference/stations") == {"value": []}
        response = client.get(f"/v1/reference?station=NL10636&{SPAN}")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "calibrate import" in response.text


def test_an_imported_station_is_listed_and_its_hours_served(tmp_path: Path) -> None:
    book = tmp_path / "calibration.db"
    _import(tmp_path, book)
    with _client(tmp_path, book) as client:
        stations = get_ok(client, "/v1/reference/stations")["value"]
        assert [(s["station"], s["quantity"], s["hours"]) for s in stations] == [
            ("NL10636", "pm10", 1),
            ("NL10636", "pm25", 3),
        ]
        pm25 = stations[1]
        assert pm25["name"] == "Utrecht-Kardinaal de Jongweg"
        assert (pm25["latitude"], pm25["longitude"]) == (52.105, 5.128)
        assert (pm25["first"], pm25["last"]) == ("2026-11-28T00:00:00Z", "2026-11-28T03:00:00Z")

        body = get_ok(client, f"/v1/reference?station=NL10636&quantity=pm25&{SPAN}")
        assert body["unit"] == "µg/m³" and body["name"] == "Utrecht-Kardinaal de Jongweg"
        assert [(h["start"], h["value"]) for h in body["value"]] == [
            ("2026-11-28T00:00:00Z", 7.5),
            ("2026-11-28T01:00:00Z", 8.25),
            ("2026-11-28T02:00:00Z", 9.0),
        ]
        # The range is [from, to): the last hour is left out when to is its start.
        short = get_ok(client, "/v1/reference?station=NL10636&from=2026-11-28T01:00:00Z"
                       "&to=2026-11-28T02:00:00Z")  # fmt: skip
        assert [h["value"] for h in short["value"]] == [8.25]

        response = client.get(f"/v1/export/reference.csv?station=NL10636&{SPAN}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert [(r["start"], r["station"], r["quantity"], float(r["value"])) for r in rows] == [
            (h["start"], "NL10636", "pm25", h["value"]) for h in body["value"]
        ]
        semicolon = client.get(
            f"/v1/export/reference.csv?station=NL10636&delimiter=semicolon&{SPAN}"
        ).text
        assert semicolon.splitlines()[2].split(";")[4] == "8,25"


def test_unknown_station_or_quantity_is_refused_with_what_to_send(tmp_path: Path) -> None:
    book = tmp_path / "calibration.db"
    _import(tmp_path, book)
    with _client(tmp_path, book) as client:
        response = client.get(f"/v1/reference?station=NL49999&{SPAN}")
        assert response.status_code == 404 and "/v1/reference/stations" in response.text
        response = client.get(f"/v1/reference?station=NL10636&quantity=no2&{SPAN}")
        assert response.status_code in (400, 422)
