"""What every CSV route shares beyond the delimiter: the byte-order mark Excel needs, only
when asked; the aggregates CSV's columns; and the CSV addresses the citizen guides and
docs/api.md print, fetched from a running server, give CSV with rows for the bounds their
text names."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lokaalmeten.calibration.book import CalibrationBook
from lokaalmeten.calibration.reference import read_reference
from lokaalmeten.noise_indicators import AMSTERDAM
from lokaalmeten.readings import FLAG_STUCK, Reading
from tests.server.conftest import DAY, META, fill, serve
from tests.test_noise_indicators import day_of

DOCS = Path(__file__).resolve().parents[2] / "docs"
BOM = b"\xef\xbb\xbf"

CSV_ROUTES = [
    f"/v1/export/readings.csv?{DAY}",
    f"/v1/export/aggregates.csv?{DAY}&window=1h",
    "/v1/export/noise.csv?start=2026-11-28&end=2026-11-29",
    f"/v1/export/corrected.csv?node=kit-1&quantity=pm25&{DAY}",
]


@pytest.mark.parametrize("path", CSV_ROUTES)
@pytest.mark.parametrize("delimiter", ["comma", "semicolon"])
def test_the_byte_order_mark_comes_only_when_asked(
    client: TestClient, path: str, delimiter: str
) -> None:
    plain = client.get(f"{path}&delimiter={delimiter}")
    marked = client.get(f"{path}&delimiter={delimiter}&bom=true")
    assert plain.status_code == marked.status_code == 200, plain.text
    assert not plain.content.startswith(BOM)
    assert client.get(f"{path}&bom=false").content == client.get(path).content
    # The mark, then exactly the file without it: Excel reads the rest as UTF-8.
    assert marked.content == BOM + plain.content
    assert marked.headers["content-type"].startswith("text/csv; charset=utf-8")


def test_a_marked_file_reads_as_the_same_table_with_utf_8_sig(client: TestClient) -> None:
    marked = client.get(f"/v1/export/readings.csv?{DAY}&delimiter=semicolon&bom=true")
    rows = list(csv.DictReader(io.StringIO(marked.content.decode("utf-8-sig")), delimiter=";"))
    assert next(iter(rows[0])) == "time"  # not "\ufefftime"
    assert {row["unit"] for row in rows if row["quantity"] == "pm25"} == {"µg/m³"}


def test_a_bad_bom_value_is_refused_with_its_name(client: TestClient) -> None:
    response = client.get(f"/v1/export/readings.csv?{DAY}&bom=maybe")
    assert response.status_code == 400
    assert response.json()["error"]["parameter"] == "bom"


def test_the_aggregates_csv_has_count_coverage_method_and_excluded(store_url: str) -> None:
    t0 = 1795824000
    readings = [Reading("kit-1", "pm25", t0 + 60 * i, 10.0, "SDS011") for i in range(30)]
    readings += [
        Reading("kit-1", "pm25", t0 + 1800 + 60 * i, 99.0, "SDS011", FLAG_STUCK) for i in range(3)
    ]
    fill(store_url, readings, META)
    with serve(store_url) as client:
        text = client.get(f"/v1/export/aggregates.csv?{DAY}&window=1h&quantity=pm25").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0].keys() >= {"count", "coverage", "method", "excluded", "valid"}
    (row,) = rows
    assert (row["start"], row["end"]) == ("2026-11-28T00:00:00Z", "2026-11-28T01:00:00Z")
    assert (row["method"], row["value"], row["count"], row["excluded"]) == (
        "mean",
        "10.0",
        "30",
        "3",
    )
    # kit-1 has no interval of its own: the default expectation decides the coverage.
    assert 0 < float(row["coverage"]) <= 1


def guide_csv_links() -> list[tuple[str, str, str]]:
    """(file, the row's text, the address) of every CSV address in a table of the citizen
    guides and of docs/api.md's endpoint table."""
    links = []
    for name in ("citizen-guide.en.md", "citizen-guide.nl.md", "api.md"):
        for line in (DOCS / name).read_text(encoding="utf-8").splitlines():
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not line.startswith("|") or len(cells) != 2:
                continue
            found = re.search(r"`(?:SERVER|GET )(/v1/export/[a-z]+\.csv[^`]*)`", line)
            if found:
                links.append((name, line, found.group(1)))
    return links


def test_the_docs_print_csv_links() -> None:
    links = guide_csv_links()
    assert {name for name, _, _ in links} == {
        "citizen-guide.en.md",
        "citizen-guide.nl.md",
        "api.md",
    }
    assert len(links) >= 3 * 2 + 4


def import_reference_hours(book: Path, now: int) -> None:
    """Reference station NL10636's PM2.5 of the last hours, imported as the operator does."""
    source = book.with_name("reference.csv")
    hours = [now // 3600 * 3600 - 3600 * i for i in range(12)]
    source.write_text(
        "station;time;component;value;latitude;longitude;name\n"
        + "".join(
            f"NL10636;{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(end))};PM25;7.5;"
            "52.105;5.128;Utrecht-Kardinaal de Jongweg\n"
            for end in hours
        ),
        encoding="utf-8",
    )
    opened = CalibrationBook(book)
    try:
        opened.import_file(read_reference(source))
    finally:
        opened.close()


@pytest.mark.parametrize(
    ("name", "line", "address"), guide_csv_links(), ids=lambda value: str(value)[:60]
)
def test_every_csv_link_in_the_docs_gives_csv_with_rows_for_the_bounds_it_names(
    store_url: str, name: str, line: str, address: str, tmp_path: Path
) -> None:
    # Readings of the last hours, so that the default bounds (the last 24 hours) hold rows.
    now = int(time.time()) // 60 * 60
    readings = [
        Reading("esp32-0a1b2c", quantity, now - 60 * i, value + i % 7, "SPS30")
        for i in range(1, 180)
        for quantity, value in (("pm25", 8.0), ("humidity", 60.0))
    ]
    # A microphone's whole local day yesterday: the noise export's default day.
    yesterday = datetime.now(AMSTERDAM).date() - timedelta(days=1)
    midnight = int(datetime.combine(yesterday, datetime.min.time(), AMSTERDAM).timestamp())
    seven = datetime.combine(yesterday, datetime.min.time().replace(hour=7), AMSTERDAM)
    night = (int(seven.timestamp()) - midnight) // 3600  # 6 or 8 on a clock-change day
    fill(store_url, readings + day_of(midnight, night), [])
    url = address.replace("=N&", "=esp32-0a1b2c&")
    book = tmp_path / "calibration.db"
    if "reference.csv" in url:
        import_reference_hours(book, now)
    if "from=" not in url:
        # An address without bounds gets the defaults: its text must say which.
        said = "yesterday" if "noise.csv" in url else r"24 (hours|uur)"
        assert re.search(said, line), f"{name}: {line} does not say its bounds"
    with serve(store_url, calibration=str(book)) as client:
        response = client.get(url)
    assert response.status_code == 200, f"{name}: {url}: {response.text}"
    assert response.headers["content-type"].startswith("text/csv")
    body = response.content
    if "bom=true" in url:
        assert body.startswith(BOM)
    sep = ";" if "delimiter=semicolon" in url else ","
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig")), delimiter=sep))
    assert rows, f"{name}: {url} gave no rows"
    if "noise.csv" in url:
        assert {row["date"] for row in rows} == {yesterday.isoformat()}
        return
    times = [row["time"] if "time" in row else row["start"] for row in rows]
    oldest = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 25 * 3600))
    assert min(times) >= oldest


@pytest.mark.parametrize(("lang", "bounds"), [("en", "last 24 hours"), ("nl", "laatste 24 uur")])
def test_the_data_pages_csv_link_says_its_bounds_and_gives_rows(
    store_url: str, lang: str, bounds: str
) -> None:
    now = int(time.time()) // 60 * 60
    fill(store_url, [Reading("kit-1", "pm25", now - 60 * i, 9.0, "SDS011") for i in range(5)], META)
    with serve(store_url) as client:
        page = client.get(f"/data?lang={lang}", headers={"accept": "text/html"}).text
        found = re.search(r"<dd>([^<]*)<a href=\"(/v1/export/[a-z]+\.csv)\"", page)
        assert found, "the data page links no CSV"
        text, href = found.groups()
        assert bounds in text
        rows = list(csv.DictReader(io.StringIO(client.get(href).text)))
    assert len(rows) == 5
