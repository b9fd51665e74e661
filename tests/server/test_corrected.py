"""/v1/corrected and /v1/export/corrected.csv on SQLite and InfluxDB: raw hourly means,
κ-Köhler corrected and calibrated values side by side, with the method and the fit; the raw
readings unchanged by everything."""

from __future__ import annotations

from pathlib import Path

import pytest

from lokaalmeten.calibration.book import CalibrationBook
from lokaalmeten.calibration.fit import calibrate
from lokaalmeten.calibration.humidity import corrected
from lokaalmeten.calibration.reference import read_reference
from lokaalmeten.node_meta import NodeMeta
from lokaalmeten.store import ReadingQuery, open_store
from tests.calibration.colocated import KAPPA, NEAR, OFFSET, SLOPE, T0, colocated, write_csv
from tests.server.conftest import fill, get_ok, serve

HOURS = 36
SPAN = "from=2026-11-28T00:00:00Z&to=2026-11-29T12:00:00Z"


def _raw(url: str) -> list[tuple[object, ...]]:
    store = open_store(url)
    try:
        return [tuple(r) for r in store.readings(ReadingQuery(0, 2**40, 100_000))]
    finally:
        store.close()


def test_raw_corrected_and_calibrated_side_by_side(store_url: str, tmp_path: Path) -> None:
    readings, lines = colocated(hours=HOURS)
    # The last two hours in fog: not correctable.
    readings = [
        r._replace(value=97.0)
        if r.quantity == "humidity" and r.time >= T0 + (HOURS - 2) * 3600
        else r
        for r in readings
    ]
    fill(store_url, readings, [NodeMeta("kit-1", NEAR[0], NEAR[1])])
    before = _raw(store_url)
    book_path = tmp_path / "calibration.db"

    with serve(store_url, calibration=str(book_path), max_range_days=366) as client:
        body = get_ok(client, f"/v1/corrected?node=kit-1&quantity=pm25&{SPAN}")
        assert body["calibration"] is None and "no calibration book" in body["calibration_note"]
        assert body["humidity_correction"]["method"] == "kappa-koehler-1"
        assert body["humidity_correction"]["kappa"] == 0.4
        assert "Crilley" in body["humidity_correction"]["reference"]
        hours = body["value"]
        assert len(hours) == HOURS and all(h["valid"] and h["count"] == 25 for h in hours)
        first = hours[0]
        assert first["start"] == "2026-11-28T00:00:00Z"
        assert first["corrected"] == pytest.approx(
            corrected(first["raw"], first["humidity"], 0.4), rel=1e-9
        )
        assert first["calibrated"] is None
        assert [h["correctable"] for h in hours[-2:]] == [False, False]
        assert [h["corrected"] for h in hours[-2:]] == [None, None]

        # A municipality imports the station's data and fits the kit; the server applies it.
        book = CalibrationBook(book_path)
        store = open_store(store_url)
        try:
            book.import_file(read_reference(write_csv(tmp_path / "ref.csv", lines)))
            [outcome] = calibrate(store, book, {"kit-1": NEAR}, 2000, None, None, KAPPA)
        finally:
            store.close()
            book.close()
        assert outcome.fit is not None
        body = get_ok(client, f"/v1/corrected?node=kit-1&quantity=pm25&{SPAN}")
        fit = body["calibration"]
        assert fit["version"] == outcome.fit.version and fit["n"] == HOURS - 2
        assert abs(fit["slope"] - SLOPE) < 0.1 and abs(fit["offset"] - OFFSET) < 1.0
        assert fit["station"] == "NL10636" and fit["distance_m"] == 400  # 446 m, rounded
        assert fit["period"] == {"start": "2026-11-28T00:00:00Z", "end": "2026-11-29T10:00:00Z"}
        assert "calibration_note" not in body
        references = [float(line.split(",")[3]) for line in lines[1:]]
        for hour, reference in zip(body["value"][:-2], references, strict=False):
            assert hour["calibrated"] == pytest.approx(
                fit["slope"] * hour["corrected"] + fit["offset"], rel=1e-9
            )
            assert hour["calibrated"] == pytest.approx(reference, abs=1.5)
        assert [h["calibrated"] for h in body["value"][-2:]] == [None, None]

        csv = client.get(
            f"/v1/export/corrected.csv?node=kit-1&quantity=pm25&{SPAN}&delimiter=semicolon"
        )
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        rows = csv.text.split("\r\n")
        assert rows[0].startswith("start;node;quantity;raw;count;valid;humidity;corrected;")
        assert len(rows) == HOURS + 2  # header, hours, the empty string after the last CRLF
        cells = rows[1].split(";")
        assert cells[:3] == ["2026-11-28T00:00:00Z", "kit-1", "pm25"]
        assert float(cells[8].replace(",", ".")) == pytest.approx(body["value"][0]["calibrated"])
        assert cells[-3] == fit["version"]
        humid = rows[-2].split(";")
        assert (humid[7], humid[8]) == ("", "")  # not correctable: empty, not a guess

    assert _raw(store_url) == before  # the raw readings as they were


def test_bad_requests(store_url: str, tmp_path: Path) -> None:
    readings, _ = colocated(hours=2)
    fill(store_url, readings, [NodeMeta("kit-1", NEAR[0], NEAR[1])])
    with serve(store_url, calibration=str(tmp_path / "none.db")) as client:
        missing = client.get(f"/v1/corrected?node=kit-9&{SPAN}")
        assert missing.status_code == 404
        assert missing.json()["error"]["message"] == "node: 'kit-9' has no pm25 readings"
        wrong = client.get(f"/v1/corrected?node=kit-1&quantity=temperature&{SPAN}")
        assert wrong.status_code == 400 and wrong.json()["error"]["parameter"] == "quantity"
        assert client.get(f"/v1/corrected?{SPAN}").status_code == 400  # node is required
    with serve(store_url, calibration=str(tmp_path / "none.db"), max_points=70) as client:
        big = client.get(f"/v1/corrected?node=kit-1&{SPAN}")  # 36 hours: 72 windows
        assert big.status_code == 400 and "at most 70 windows" in big.json()["error"]["message"]


def test_a_broken_calibration_book_leaves_raw_and_corrected_served(
    store_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    readings, _ = colocated(hours=3)
    fill(store_url, readings, [NodeMeta("kit-1", NEAR[0], NEAR[1])])
    broken = tmp_path / "calibration.db"
    broken.write_bytes(b"this is not a SQLite file, but it is where LM_CALIBRATION points" * 20)
    with serve(store_url, calibration=str(broken)) as client:
        body = get_ok(client, f"/v1/corrected?node=kit-1&{SPAN}")
    assert body["calibration"] is None
    assert body["calibration_note"] == (
        "the calibration book cannot be read (the server's log says why)"
    )
    assert len(body["value"]) == 3 and body["value"][0]["corrected"] is not None
    assert "is not a calibration book" in caplog.text
