"""Importing reference data: Luchtmeetnet open API JSON and a municipality's CSV; bad files
refused whole with one line that names the file, the place and the fault."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lokaalmeten.calibration.book import CalibrationBook
from lokaalmeten.calibration.reference import (
    ReferenceError,
    ReferenceValue,
    Station,
    read_reference,
)

FIXTURES = Path(__file__).parent / "fixtures"
H = 1795824000  # 2026-11-28T00:00:00Z


def test_luchtmeetnet_measurements_are_read_by_the_start_of_their_hour() -> None:
    ref = read_reference(FIXTURES / "luchtmeetnet-measurements.json")
    assert ref.values == [
        # stamped 01:00 (the end of the hour): the hour 00:00-01:00
        ReferenceValue("NL10636", "pm25", H, 7.9),
        ReferenceValue("NL10636", "pm25", H + 3600, 8.4),
        ReferenceValue("NL10636", "pm10", H, 14.2),
    ]
    assert (ref.missing, ref.other_components) == (1, 1)  # the null, the NO2
    assert ref.stations == []


def test_luchtmeetnet_station_detail_gives_its_place() -> None:
    ref = read_reference(FIXTURES / "luchtmeetnet-station.json")
    assert ref.stations == [Station("NL10636", "Utrecht-Kardinaal de Jongweg", 52.105, 5.128)]


def test_station_without_number_takes_it_from_the_file_name(tmp_path: Path) -> None:
    text = (FIXTURES / "luchtmeetnet-station.json").read_text()
    (tmp_path / "NL10636.json").write_text(text.replace('"number": "NL10636",', ""))
    assert read_reference(tmp_path / "NL10636.json").stations[0].number == "NL10636"
    (tmp_path / "station.json").write_text(text.replace('"number": "NL10636",', ""))
    with pytest.raises(ReferenceError, match=r"station\.json: data: the station has no 'number'"):
        read_reference(tmp_path / "station.json")


def test_semicolon_csv_with_decimal_commas() -> None:
    ref = read_reference(FIXTURES / "gemeente-export.csv")
    assert ref.stations == [Station("NL10643", "Utrecht-Griftpark", 52.0997, 5.1209)]
    assert ref.values == [
        ReferenceValue("NL10643", "pm25", H, 6.8),
        ReferenceValue("NL10643", "pm25", H + 3600, 7.1),
        ReferenceValue("NL10643", "pm10", H + 3600, 12.5),
    ]
    assert (ref.missing, ref.other_components) == (1, 1)


def test_csv_with_hour_start_column(tmp_path: Path) -> None:
    path = tmp_path / "starts.csv"
    path.write_text("station,hour_start,component,value\nNL10643,2026-11-28T00:00:00Z,PM2.5,6.8\n")
    assert read_reference(path).values == [ReferenceValue("NL10643", "pm25", H, 6.8)]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.json", '{"data": [\n  {"station_number": "NL1"\n', r"a\.json:3: not valid JSON"),
        ("b.json", '{"items": []}', r"b\.json:1: no 'data' member"),
        (
            "c.json",
            '{"data": [{"station_number": "NL1", "value": 3, "formula": "PM25"}]}',
            r"c\.json: data\[0\]: no 'timestamp_measured'",
        ),
        (
            "d.json",
            '{"data": [{"station_number": "NL1", "value": "high", "formula": "PM25",'
            ' "timestamp_measured": "2026-11-28T01:00:00+00:00"}]}',
            r"d\.json: data\[0\]: value 'high' is not a number",
        ),
        (
            "e.json",
            '{"data": [{"station_number": "NL1", "value": 3, "formula": "PM10",'
            ' "timestamp_measured": "2026-11-28T01:00:00"}]}',
            r"e\.json: data\[0\]: time '2026-11-28T01:00:00' has no UTC offset",
        ),
        (
            "f.csv",
            "station,time,value\nNL1,2026-11-28T01:00:00Z,3\n",
            r"f\.csv:1: the header lacks component",
        ),
        (
            "g.csv",
            "station,time,component,value\nNL1,2026-11-28T01:00:00Z,PM25,3\n"
            "NL1,2026-11-28T02:30:00Z,PM25,3\n",
            r"g\.csv:3: time '2026-11-28T02:30:00Z' is not on a whole hour",
        ),
        (
            "h.csv",
            "station,time,component,value\nNL1,2026-11-28T01:00:00Z,PM25,-4\n",
            r"h\.csv:2: value -4.0 is negative",
        ),
        (
            "i.csv",
            "station,time,component,value\nNL1,2026-11-28T01:00:00Z,PM25\n",
            r"i\.csv:2: 3 fields",
        ),
        ("j.csv", "", r"j\.csv: the file is empty"),
        (
            "k.json",
            '{"data": {"number": "NL1", "geometry": {"coordinates": [52.1, 185.0]}}}',
            r"k\.json: data: latitude 185.0 / longitude 52.1 out of range",
        ),
    ],
)
def test_bad_files_are_refused_with_one_line(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ReferenceError, match=message) as caught:
        read_reference(path)
    assert "\n" not in str(caught.value)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReferenceError, match=r"nope\.json: no such file"):
        read_reference(tmp_path / "nope.json")


def test_import_is_idempotent_and_takes_revised_values(tmp_path: Path) -> None:
    book = CalibrationBook(tmp_path / "calibration.db")
    try:
        first = book.import_file(read_reference(FIXTURES / "luchtmeetnet-measurements.json"))
        assert (first.new, first.changed, first.unchanged) == (3, 0, 0)
        again = book.import_file(read_reference(FIXTURES / "luchtmeetnet-measurements.json"))
        assert (again.new, again.changed, again.unchanged) == (0, 0, 3)
        # Luchtmeetnet revises values after validation: the revision replaces the old value.
        revised = tmp_path / "revised.json"
        shutil.copy(FIXTURES / "luchtmeetnet-measurements.json", revised)
        revised.write_text(revised.read_text().replace('"value": 7.9', '"value": 8.1'))
        third = book.import_file(read_reference(revised))
        assert (third.new, third.changed, third.unchanged) == (0, 1, 2)
        assert book.reference("NL10636", "pm25", H, H + 7200) == {H: 8.1, H + 3600: 8.4}
        book.import_file(read_reference(FIXTURES / "luchtmeetnet-station.json"))
        assert [s.number for s in book.stations()] == ["NL10636"]
        assert book.series() == [
            ("NL10636", "pm10", H, H, 1),
            ("NL10636", "pm25", H, H + 3600, 2),
        ]
    finally:
        book.close()
