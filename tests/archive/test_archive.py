"""The bulk archive against real stores (SQLite and InfluxDB 1.6.7), written by the real
command: pandas and pyarrow read each file and get exactly what the export gives for the
same day; the sums verify; a rerun changes nothing; a late reading rewrites its day and
month, and nothing else."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
from pathlib import Path

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from lokaalmeten.readings import FLAG_STUCK, FLAG_TIME_ESTIMATED, Reading, flag_names
from lokaalmeten.services.influxdb import InfluxDB
from lokaalmeten.store import open_store
from tests.server.conftest import META, READINGS, T0, fill, registry_for, serve
from tests.test_cli import lm

DAY = 86400
# A second day, the day before, so that a change of one day can be seen to leave the other.
# One of them flagged and without a sensor model: a stream of two tags, and a null sensor.
EARLIER = [Reading("kit-2", "pm25", T0 - DAY + 3600 * i, 30.0 + i, "SPS30") for i in range(4)] + [
    Reading("kit-2", "pm25", T0 - DAY + 3600 * 5, 35.0, None, FLAG_STUCK)
]
FILES = {
    "daily/readings-2026-11-27.csv.gz",
    "daily/readings-2026-11-28.csv.gz",
    "monthly/readings-2026-11-pm25.parquet",
    "monthly/readings-2026-11-temperature.parquet",
}


def archive(url: str, folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    out = lm(
        "archive",
        "--store",
        url,
        "--registry",
        str(registry_for(url)),
        "--folder",
        str(folder),
        "--since",
        "2026-11-27",
        "--until",
        "2026-11-29",
        *extra,
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    return out


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    }


@pytest.fixture
def filled(store_url: str) -> str:
    fill(store_url, READINGS + EARLIER, META)
    return store_url


def export(client: TestClient, day: str, following: str) -> bytes:
    response = client.get(f"/v1/export/readings.csv?from={day}&to={following}")
    assert response.status_code == 200
    body: bytes = response.content
    return body


def test_each_day_and_month_reads_as_the_export_gives_it(filled: str, tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    out = archive(filled, folder)
    assert "4 files written" in out.stdout
    assert set(files_of(folder)) == FILES | {"SHA256SUMS", "index.jsonld"}
    with serve(filled, max_limit=1000, default_limit=1000) as client:
        exported = {
            "2026-11-27": export(client, "2026-11-27", "2026-11-28"),
            "2026-11-28": export(client, "2026-11-28", "2026-11-29"),
        }
    frames = []
    for day, body in exported.items():
        path = folder / f"daily/readings-{day}.csv.gz"
        # Byte for byte the export, and pandas reads the gzip as it is, from its name.
        assert gzip.decompress(path.read_bytes()) == body
        from_file = pd.read_csv(path, parse_dates=["time"])
        from_export = pd.read_csv(io.BytesIO(body), parse_dates=["time"])
        pd.testing.assert_frame_equal(from_file, from_export)
        assert str(from_file["time"].dt.tz) == "UTC"
        frames.append(from_export)
    month = pd.concat(frames, ignore_index=True)
    assert len(month) == len(READINGS) + len(EARLIER)

    for quantity in ("pm25", "temperature"):
        table = pq.read_table(folder / f"monthly/readings-2026-11-{quantity}.parquet")
        assert table.schema.field("time").type == pa.timestamp("ms", tz="UTC")
        assert table.schema.field("value").type == pa.float64()
        assert table.schema.field("flags").type == pa.int32()
        assert pa.types.is_dictionary(table.schema.field("node").type)
        parquet = table.to_pandas()
        # The CSV writes flag names; the Parquet keeps the bits.
        parquet["flags"] = [
            "|".join(flag_names(int(bits))) or float("nan") for bits in parquet["flags"]
        ]
        for column in ("node", "quantity", "unit", "sensor"):
            parquet[column] = parquet[column].astype(object)
        wanted = month[month["quantity"] == quantity].sort_values(["node", "time"])
        wanted = wanted.reset_index(drop=True)
        parquet["time"] = parquet["time"].astype(wanted["time"].dtype)
        pd.testing.assert_frame_equal(parquet, wanted, check_dtype=False)
        assert len(parquet) == len(wanted) > 0
    flagged = pq.read_table(folder / "monthly/readings-2026-11-temperature.parquet")
    assert flagged.column("flags").to_pylist() == [FLAG_TIME_ESTIMATED]


def test_the_sums_verify_and_the_index_describes_every_file(filled: str, tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    archive(filled, folder)
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == len(FILES)
    index = json.loads((folder / "index.jsonld").read_text())
    assert index["@type"] == "dcat:Dataset"
    assert index["dct:license"] == {"@id": "http://creativecommons.org/publicdomain/zero/1.0/"}
    sums: dict[str, str] = {}
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ")
        sums[name] = digest
    found = {}
    for entry in index["dcat:distribution"]:
        name = entry["dcat:downloadURL"]["@id"]
        found[name] = entry
        assert entry["@type"] == "dcat:Distribution"
        assert int(entry["dcat:byteSize"]["@value"]) == (folder / name).stat().st_size
        assert entry["spdx:checksum"]["spdx:checksumValue"]["@value"] == sums[name]
        assert entry["dct:license"] == index["dct:license"]
    assert set(found) == FILES
    day = found["daily/readings-2026-11-28.csv.gz"]
    assert day["dcat:mediaType"]["@id"].endswith("/text/csv")
    assert day["dcat:compressFormat"]["@id"].endswith("/application/gzip")
    assert day["dct:temporal"]["dcat:startDate"]["@value"] == "2026-11-28T00:00:00Z"
    assert day["dct:temporal"]["dcat:endDate"]["@value"] == "2026-11-29T00:00:00Z"
    month = found["monthly/readings-2026-11-pm25.parquet"]
    assert month["dcat:mediaType"]["@id"].endswith("/application/vnd.apache.parquet")
    assert month["dct:temporal"]["dcat:endDate"]["@value"] == "2026-12-01T00:00:00Z"


def test_a_rerun_changes_nothing_and_a_late_reading_rewrites_its_day_and_month(
    filled: str, tmp_path: Path
) -> None:
    folder = tmp_path / "archive"
    archive(filled, folder)
    before = files_of(folder)
    stamps = {name: (folder / name).stat().st_mtime_ns for name in before}

    again = archive(filled, folder)
    assert "0 files written" in again.stdout
    assert files_of(folder) == before
    assert {name: (folder / name).stat().st_mtime_ns for name in before} == stamps

    # Asked to write everything again, the bytes come out the same: the same file.
    rebuilt = archive(filled, folder, "--rebuild")
    assert "0 files written" in rebuilt.stdout
    assert files_of(folder) == before

    # A reading of 27 November arrives late, with a new quantity too.
    late = [
        Reading("kit-1", "pm25", T0 - DAY + 7200, 99.5, "SDS011"),
        Reading("kit-1", "pm10", T0 - DAY + 7200, 120.25, "SDS011"),
    ]
    store = open_store(filled)
    try:
        store.write(late)
    finally:
        store.close()
    out = archive(filled, folder)
    assert "3 files written" in out.stdout, out.stdout
    after = files_of(folder)
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed == {
        "daily/readings-2026-11-27.csv.gz",
        "monthly/readings-2026-11-pm25.parquet",
        "monthly/readings-2026-11-pm10.parquet",
        "SHA256SUMS",
        "index.jsonld",
    }
    day = pd.read_csv(folder / "daily/readings-2026-11-27.csv.gz")
    assert 99.5 in set(day["value"]) and 120.25 in set(day["value"])
    assert (
        len(pq.read_table(folder / "monthly/readings-2026-11-pm25.parquet"))
        == len([r for r in READINGS + EARLIER if r.quantity == "pm25"]) + 1
    )
    assert subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=folder).returncode == 0


def test_nothing_is_left_half_written_or_lying_about(filled: str, tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    archive(filled, folder)
    # No temporary file stays behind: the state and the run's lock are the only files kept
    # unpublished.
    hidden = sorted(p.name for p in folder.rglob(".*"))
    assert hidden == [".archive-lock", ".archive-state.json"]


@pytest.mark.influxdb
def test_readings_the_store_no_longer_holds_stay_in_the_archive(
    influxdb: InfluxDB, tmp_path: Path
) -> None:
    url = f"influxdb://127.0.0.1:{influxdb.port}/retention"
    fill(url, READINGS + EARLIER, META)
    folder = tmp_path / "archive"
    archive(url, folder)
    before = files_of(folder)
    # What a retention policy does to old shards: kit-2's readings of the 27th are gone.
    dropped = httpx.post(
        f"http://127.0.0.1:{influxdb.port}/query",
        params={
            "db": "retention",
            "q": f'DELETE FROM "pm25" WHERE "node" = \'kit-2\' AND time < {T0}s',
        },
    )
    assert dropped.status_code == 200, dropped.text
    out = archive(url, folder)
    assert "monthly/readings-2026-11-pm25.parquet: kept; the store now holds 35 of its 40" in (
        out.stdout
    )
    assert "0 files written" in out.stdout and "1 kept" in out.stdout
    assert files_of(folder) == before  # the day without readings now keeps its file too
