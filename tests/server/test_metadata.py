"""Landing page, DCAT-AP-NL metadata, licence; guardrails: rate limit, CORS, gzip."""

from __future__ import annotations

from pathlib import Path

import pytest

from lokaalmeten.settings import ServerSettings
from tests.helpers import REPO
from tests.server.conftest import READINGS, fill, get_ok, serve


@pytest.fixture
def url(tmp_path: Path) -> str:
    store = f"sqlite:///{tmp_path / 'lm.db'}"
    fill(store, READINGS, [])
    return store


def test_dataset_is_dcat_ap_nl_json_ld_with_the_licence(url: str) -> None:
    with serve(url, licence="CC-BY-4.0", contact_email="data@example.org") as client:
        response = client.get("/v1/dataset")
    assert response.headers["content-type"].startswith("application/ld+json")
    body = response.json()
    assert body["@type"] == "dcat:Dataset"
    assert body["@context"]["dcat"] == "http://www.w3.org/ns/dcat#"
    # DCAT-AP-NL mandatory properties of a dataset
    for key in (
        "dct:accessRights",
        "dcat:contactPoint",
        "dct:creator",
        "dct:description",
        "dct:identifier",
        "dct:publisher",
        "dcat:theme",
        "dct:title",
    ):
        assert key in body, key
    assert body["dcat:contactPoint"]["vcard:hasEmail"] == {"@id": "mailto:data@example.org"}
    licences = {d["dct:license"]["@id"] for d in body["dcat:distribution"]}
    assert licences == {"http://creativecommons.org/licenses/by/4.0/"}
    media = {d["dcat:mediaType"]["@id"].rsplit("/", 2)[-2:][1] for d in body["dcat:distribution"]}
    assert {"csv", "geo+json", "json"} <= media
    ogc = [d for d in body["dcat:distribution"] if d["@id"].endswith("#ogc-features")]
    assert ogc[0]["dcat:accessURL"]["@id"].endswith("/ogc")


def test_landing_page_names_licence_and_links(url: str) -> None:
    with serve(url) as client:
        body = get_ok(client, "/v1")
    assert body["licence"]["id"] == "CC0-1.0"
    assert body["links"]["sensorthings"].endswith("/v1.1")
    assert body["links"]["stream"].endswith("/v1/stream")
    assert body["links"]["ogc_features"].endswith("/ogc")


def test_landing_page_lists_every_limit_in_force(url: str) -> None:
    with serve(url, sta_max_filter_terms=7, max_heavy_total=3, max_stream_clients=4) as client:
        limits = get_ok(client, "/v1")["limits"]
    assert limits["sta_max_filter_terms"] == 7 and limits["max_heavy_total"] == 3
    assert limits["max_stream_clients"] == 4
    assert limits["max_limit"] == 50  # the tests' server
    documented = (REPO / "docs" / "api.md").read_text()
    for name in limits:
        assert name in ServerSettings.model_fields, name
        assert f"`{name}`" in documented, f"docs/api.md does not explain {name}"


def test_settings_refuse_an_unknown_licence() -> None:
    with pytest.raises(ValueError, match=r"CC0-1\.0"):
        ServerSettings(licence="GPL")


def test_rate_limit_answers_429_with_retry_after(url: str) -> None:
    with serve(url, rate_limit=3) as client:
        codes = [client.get("/v1/quantities").status_code for _ in range(4)]
        refused = client.get("/v1/quantities")
    assert codes == [200, 200, 200, 429]
    assert refused.json()["error"]["status"] == 429
    assert "at most 3 requests a minute" in refused.json()["error"]["message"]
    assert int(refused.headers["retry-after"]) >= 1


def test_cors_is_open_for_get_and_answers_are_gzipped(url: str) -> None:
    with serve(url) as client:
        response = client.get(
            "/v1/export/readings.csv?from=2026-11-28&to=2026-11-29",
            headers={"Origin": "https://gis.example.nl", "Accept-Encoding": "gzip"},
        )
        preflight = client.options(
            "/v1/nodes",
            headers={"Origin": "https://x.nl", "Access-Control-Request-Method": "GET"},
        )
        post = client.options(
            "/v1/nodes",
            headers={"Origin": "https://x.nl", "Access-Control-Request-Method": "POST"},
        )
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["content-encoding"] == "gzip"
    assert response.text.startswith("time,node")  # httpx inflates it again
    assert preflight.status_code == 200
    assert post.status_code == 400  # CORS allows reading only
