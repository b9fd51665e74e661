"""The archive as its readers fetch it, over HTTP from a real server process: pandas reads
a day's CSV and a month's Parquet from their URLs, and GDAL's /vsicurl/ (which reads a
remote file by ranges, as QGIS does) reads the gzipped CSV through /archive/."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from lokaalmeten.services.ports import free_port, wait_listening
from lokaalmeten.services.processes import spawn
from tests.archive.test_archive import EARLIER
from tests.server.conftest import META, READINGS, fill, registry_for
from tests.server.test_stream import stop
from tests.test_cli import lm

DAY_FILE = "daily/readings-2026-11-28.csv.gz"
MONTH_FILE = "monthly/readings-2026-11-pm25.parquet"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real `lokaalmeten server` publishing an archive `lokaalmeten archive` wrote."""
    url = f"sqlite:///{tmp_path / 'lm.db'}"
    fill(url, READINGS + EARLIER, META)
    folder = tmp_path / "archive"
    registry = str(registry_for(url))
    out = lm("archive", "--store", url, "--registry", registry, "--folder", str(folder))
    assert out.returncode == 0, out.stderr
    port = free_port()
    env = {**os.environ, "LM_RATE_LIMIT": "0", "LM_ARCHIVE_FOLDER": str(folder)}
    with (tmp_path / "server.log").open("ab") as log:
        process = spawn(
            [sys.executable, "-m", "lokaalmeten", "server", "--store", url,
             "--registry", registry, "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        assert wait_listening("127.0.0.1", port, 20, alive=lambda: process.poll() is None), (
            tmp_path / "server.log"
        ).read_text()
        yield f"http://127.0.0.1:{port}/archive", folder
    finally:
        stop(process)


def test_pandas_reads_the_files_from_their_addresses(live: tuple[str, Path]) -> None:
    base, folder = live
    from_url = pd.read_csv(f"{base}/{DAY_FILE}", parse_dates=["time"])
    from_file = pd.read_csv(folder / DAY_FILE, parse_dates=["time"])
    pd.testing.assert_frame_equal(from_url, from_file)
    assert len(from_url) == len(READINGS)
    month = pd.read_parquet(f"{base}/{MONTH_FILE}")
    pd.testing.assert_frame_equal(month, pq.read_table(folder / MONTH_FILE).to_pandas())
    assert len(month) == len([r for r in READINGS + EARLIER if r.quantity == "pm25"])


def test_gdal_reads_the_gzipped_csv_by_ranges(ogrinfo: str, live: tuple[str, Path]) -> None:
    base = live[0]
    done = subprocess.run(
        [ogrinfo, "-ro", "-so", "-al", f"/vsigzip//vsicurl/{base}/{DAY_FILE}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        # CPL_CURL_VERBOSE: curl's own log of each request, to see the ranges it asked for.
        env={**os.environ, "CPL_CURL_VERBOSE": "YES", "GDAL_HTTP_MAX_RETRY": "0"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Range: bytes=" in done.stderr and "206 Partial Content" in done.stderr
    assert f"Feature Count: {len(READINGS)}" in done.stdout, done.stdout
    for column in ("time", "node", "quantity", "value", "unit", "sensor", "flags"):
        assert f"{column}: String" in done.stdout, done.stdout
