"""The server publishes the archive folder at /archive/: ranges, ETags from the checksums,
304, media types, and nothing outside the published files."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from tests.archive.test_archive import EARLIER
from tests.server.conftest import META, READINGS, fill, serve
from tests.test_cli import lm

DAY_FILE = "daily/readings-2026-11-28.csv.gz"
MONTH_FILE = "monthly/readings-2026-11-pm25.parquet"


@pytest.fixture(scope="module")
def archived(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    place = tmp_path_factory.mktemp("served")
    url = f"sqlite:///{place / 'lm.db'}"
    fill(url, READINGS + EARLIER, META)
    (place / "secret.txt").write_text("outside the archive")
    folder = place / "archive"
    out = lm("archive", "--store", url, "--folder", str(folder), "--until", "2026-11-30")
    assert out.returncode == 0, out.stderr
    return url, folder


@pytest.fixture
def client(archived: tuple[str, Path]) -> Iterator[TestClient]:
    url, folder = archived
    with serve(url, archive_folder=str(folder)) as test_client:
        yield test_client


def sums(folder: Path) -> dict[str, str]:
    found = {}
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ")
        found[name] = digest
    return found


def test_files_come_whole_with_their_type_and_checksum_as_etag(
    client: TestClient, archived: tuple[str, Path]
) -> None:
    folder = archived[1]
    kinds = ((DAY_FILE, "application/gzip"), (MONTH_FILE, "application/vnd.apache.parquet"))
    for name, media in kinds:
        response = client.get(f"/archive/{name}", headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        assert response.headers["content-type"] == media
        # As stored: never gzipped again, so that Content-Length and ranges are of the file.
        assert "content-encoding" not in response.headers
        assert response.content == (folder / name).read_bytes()
        assert response.headers["etag"] == f'"{sums(folder)[name]}"'
        assert response.headers["accept-ranges"] == "bytes"
        assert response.headers["last-modified"].endswith(" GMT")
    table = pq.read_table(io.BytesIO(client.get(f"/archive/{MONTH_FILE}").content))
    assert len(table) == len([r for r in READINGS + EARLIER if r.quantity == "pm25"])


def test_the_index_is_at_the_folder_and_its_links_resolve(client: TestClient) -> None:
    response = client.get("/archive/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ld+json"
    index = response.json()
    assert index["@type"] == "dcat:Dataset"
    for entry in index["dcat:distribution"]:
        # Relative to the index: /archive/ + the name.
        answer = client.head(f"/archive/{entry['dcat:downloadURL']['@id']}")
        assert answer.status_code == 200
        assert answer.headers["content-length"] == entry["dcat:byteSize"]["@value"]
    assert client.get("/archive/SHA256SUMS").headers["content-type"].startswith("text/plain")
    assert client.get("/archive/index.jsonld").json() == index


def test_ranges(client: TestClient, archived: tuple[str, Path]) -> None:
    whole = (archived[1] / MONTH_FILE).read_bytes()
    size = len(whole)
    first = client.get(f"/archive/{MONTH_FILE}", headers={"Range": "bytes=0-99"})
    assert first.status_code == 206
    assert first.headers["content-range"] == f"bytes 0-99/{size}"
    assert first.content == whole[:100]
    # The footer, as a Parquet reader asks for it first: the last 8 bytes end in PAR1.
    tail = client.get(f"/archive/{MONTH_FILE}", headers={"Range": "bytes=-8"})
    assert tail.status_code == 206
    assert tail.content == whole[-8:] and tail.content.endswith(b"PAR1")
    beyond = client.get(f"/archive/{MONTH_FILE}", headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{size}"
    etag = first.headers["etag"]
    resumed = client.get(
        f"/archive/{MONTH_FILE}", headers={"Range": "bytes=100-", "If-Range": etag}
    )
    assert resumed.status_code == 206 and first.content + resumed.content == whole
    stale = client.get(
        f"/archive/{MONTH_FILE}", headers={"Range": "bytes=100-", "If-Range": '"other"'}
    )
    assert stale.status_code == 200 and stale.content == whole


def test_if_none_match(client: TestClient) -> None:
    etag = client.get(f"/archive/{DAY_FILE}").headers["etag"]
    for header in (etag, f'"x", {etag}', f"W/{etag}", "*"):
        unchanged = client.get(f"/archive/{DAY_FILE}", headers={"If-None-Match": header})
        assert unchanged.status_code == 304, header
        assert unchanged.content == b""
        assert unchanged.headers["etag"] == etag
    assert client.get(f"/archive/{DAY_FILE}", headers={"If-None-Match": '"x"'}).status_code == 200
    index = client.get("/archive/index.jsonld")
    again = client.get("/archive/index.jsonld", headers={"If-None-Match": index.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(
    "path",
    [
        "/archive/%2e%2e/secret.txt",
        "/archive/daily/%2e%2e/%2e%2e/secret.txt",
        "/archive/..%2fsecret.txt",
        "/archive/.archive-state.json",
        "/archive/daily/",
        "/archive/daily",
        "/archive/nothing.csv.gz",
        "/archive/%2fetc/passwd",
        "/archive//etc/passwd",
        "/archive/daily\\..\\..\\secret.txt",
        # Longer than a file name may be (ENAMETOOLONG): a 404, not a 500.
        "/archive/daily/" + "a" * 300 + ".csv.gz",
    ],
)
def test_nothing_outside_the_published_files(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "outside the archive" not in response.text


def test_a_link_out_of_the_folder_is_not_followed(
    client: TestClient, archived: tuple[str, Path]
) -> None:
    link = archived[1] / "daily" / "link.csv.gz"
    link.symlink_to(archived[1].parent / "secret.txt")
    try:
        assert client.get("/archive/daily/link.csv.gz").status_code == 404
    finally:
        link.unlink()


def test_no_folder_no_archive(archived: tuple[str, Path]) -> None:
    with serve(archived[0]) as client:
        response = client.get(f"/archive/{DAY_FILE}")
        assert response.status_code == 404
        assert "archive_folder" in json.loads(response.text)["detail"]


def test_the_api_names_the_archive_when_it_has_one(client: TestClient) -> None:
    assert client.get("/v1").json()["links"]["archive"].endswith("/archive/")
    distributions = client.get("/v1/dataset").json()["dcat:distribution"]
    archive = [d for d in distributions if d["@id"].endswith("#archive")]
    assert len(archive) == 1
    assert archive[0]["dcat:accessURL"]["@id"].endswith("/archive/")
    assert client.get(archive[0]["dcat:accessURL"]["@id"]).status_code == 200


def test_without_an_archive_the_api_names_none(archived: tuple[str, Path]) -> None:
    with serve(archived[0]) as client:
        assert "archive" not in client.get("/v1").json()["links"]
        distributions = client.get("/v1/dataset").json()["dcat:distribution"]
        assert not [d for d in distributions if d["@id"].endswith("#archive")]
