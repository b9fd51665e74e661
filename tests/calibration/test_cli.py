"""``lokaalmeten calibrate`` end to end: a real store and node directory, reference CSV and
JSON imported, kits fitted, the book listed; bad files refused before anything is imported."""

from __future__ import annotations

import os
from pathlib import Path

from lokaalmeten.calibration.book import CalibrationBook
from lokaalmeten.gateway.directory import Directory
from lokaalmeten.node_meta import NodeMeta
from lokaalmeten.store import ReadingQuery, open_store
from tests.calibration.colocated import NEAR, colocated, write_csv
from tests.test_cli import lm

FIXTURES = Path(__file__).parent / "fixtures"


def environment(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LM_CONFIG": "none",
        "LM_STORE": f"sqlite:///{tmp_path / 'lm.db'}",
        "LM_REGISTRY": str(tmp_path / "registry.db"),
    }


def test_import_fit_list(tmp_path: Path) -> None:
    readings, lines = colocated(hours=72)
    store = open_store(f"sqlite:///{tmp_path / 'lm.db'}")
    store.write(readings)
    raw = store.readings(ReadingQuery(0, 2**40, 100_000))
    store.close()
    directory = Directory(tmp_path / "registry.db")
    directory.adopt([NodeMeta("kit-1", NEAR[0], NEAR[1])])
    directory.close()
    env = environment(tmp_path)
    csv = write_csv(tmp_path / "ref.csv", lines)

    out = lm("calibrate", "import", str(csv), str(FIXTURES / "luchtmeetnet-station.json"), env=env)
    assert out.returncode == 0, out.stderr
    assert f"{csv}: 1 stations, 72 new values, 0 revised, 0 unchanged" in out.stdout
    assert f"calibration book: {tmp_path / 'calibration.db'}" in out.stdout  # beside registry

    out = lm("calibrate", "fit", "--radius", "1000", env=env)
    assert out.returncode == 0, out.stderr
    assert "kit-1 pm25: " in out.stdout and "(new version) station NL10636" in out.stdout
    assert "n=72" in out.stdout and "fitting kit-1 pm25" in out.stderr
    again = lm("calibrate", "fit", "--radius", "1000", env=env)
    assert "unchanged (same inputs as before)" in again.stdout
    short = lm("calibrate", "fit", "--radius", "1000", "--end", "2026-11-29T12:00", env=env)
    assert "(new version)" in short.stdout and "n=36" in short.stdout

    out = lm("calibrate", "list", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("kit-1\tpm25\t") == 2
    assert "NL10636\tpm25\t2026-11-28T00:00Z\t2026-11-30T23:00Z\t72" in out.stdout

    far = lm("calibrate", "fit", "--radius", "100", env=env)
    assert "kit-1 pm25: no fit: no station within 100 m" in far.stdout

    store = open_store(f"sqlite:///{tmp_path / 'lm.db'}")
    assert store.readings(ReadingQuery(0, 2**40, 100_000)) == raw  # raw untouched
    store.close()


def test_a_bad_file_imports_nothing(tmp_path: Path) -> None:
    good = FIXTURES / "luchtmeetnet-measurements.json"
    bad = tmp_path / "bad.csv"
    bad.write_text("station;time;component;value\nNL10643;28-11-2026 01:00;PM25;6,8\n")
    out = lm("calibrate", "import", str(good), str(bad), env=environment(tmp_path))
    assert out.returncode == 2
    assert out.stderr.strip() == (
        f"error: {bad}:2: time '28-11-2026 01:00' is not ISO 8601; write e.g. "
        "2026-11-28T10:00:00+00:00 (nothing imported)"
    )
    assert not (tmp_path / "calibration.db").exists()


def test_fit_without_a_store_says_so(tmp_path: Path) -> None:
    out = lm("calibrate", "fit", env=environment(tmp_path))
    assert out.returncode == 2 and "no store at" in out.stderr
    book = CalibrationBook(tmp_path / "calibration.db")
    book.close()
    out = lm("calibrate", "list", env=environment(tmp_path))
    assert out.returncode == 0 and "no fits yet" in out.stdout


def test_bad_options_are_named_as_given(tmp_path: Path) -> None:
    env = environment(tmp_path)
    out = lm("calibrate", "fit", "--radius", "-5", env=env)
    assert out.returncode == 2 and "--radius: Input should be greater than 0" in out.stderr
    out = lm("calibrate", "fit", "--kappa", "3", env=env)
    assert "--kappa: Input should be less than or equal to 1.5" in out.stderr
    out = lm("calibrate", "fit", "--start", "yesterday", env=env)
    assert "--start 'yesterday' is not ISO 8601" in out.stderr
