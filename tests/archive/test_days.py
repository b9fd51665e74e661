"""Which days a run archives: complete UTC days only; the month in progress up to today; a
crash while writing leaves the old file and no half one."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lokaalmeten.archive.files import Replacement
from lokaalmeten.archive.layout import day_file, day_text, month_file, month_of
from lokaalmeten.readings import Reading, iso_utc
from tests.server.conftest import META, fill
from tests.test_cli import lm

DAY = 86400


def test_the_last_days_and_the_month_in_progress(tmp_path: Path) -> None:
    today = int(time.time()) // DAY * DAY
    yesterday = today - DAY
    url = f"sqlite:///{tmp_path / 'lm.db'}"
    readings = [
        Reading("kit-1", "pm25", yesterday + 600 * i, 5.0 + i, "SDS011") for i in range(6)
    ] + [
        Reading("kit-1", "pm25", today + 60, 99.0, "SDS011"),  # today: not over, not archived
        Reading("kit-1", "pm25", yesterday - 3 * DAY, 1.0, "SDS011"),  # outside --days 1
    ]
    fill(url, readings, META)
    folder = tmp_path / "archive"
    out = lm("archive", "--store", url, "--folder", str(folder), "--days", "1")
    assert out.returncode == 0, out.stderr
    assert f"UTC days {day_text(yesterday)} to {day_text(yesterday)}" in out.stdout
    days = sorted(p.name for p in (folder / "daily").iterdir())
    assert days == [Path(day_file(yesterday)).name]
    # The month of yesterday, as far as it is over: without today's reading.
    month = month_of(yesterday)
    table = pq.read_table(folder / month_file(month, "pm25"))
    values = table.column("value").to_pylist()
    assert 99.0 not in values and sorted(values)[-1] == 10.0
    assert len(values) == 6 + (1 if yesterday - 3 * DAY >= month else 0)
    index = json.loads((folder / "index.jsonld").read_text())
    (parquet,) = [d for d in index["dcat:distribution"] if d["@id"].endswith(".parquet")]
    assert parquet["dct:temporal"]["dcat:endDate"]["@value"] == iso_utc(today)


def test_a_failed_write_leaves_the_old_file_and_no_half_one(tmp_path: Path) -> None:
    target = tmp_path / "daily" / "readings-2026-11-28.csv.gz"
    target.parent.mkdir()
    target.write_bytes(b"the old file")
    with pytest.raises(RuntimeError), Replacement(target) as out:
        out.stream.write(b"half of a new")
        raise RuntimeError("the store went away")
    assert target.read_bytes() == b"the old file"
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]
    with Replacement(target) as out:
        out.stream.write(b"the new file")
    assert out.changed and target.read_bytes() == b"the new file"
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]
